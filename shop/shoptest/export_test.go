package shoptest

// ImagePresent lets the tests ask whether an image is built.
var ImagePresent = imagePresent
