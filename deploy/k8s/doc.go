// Package k8s holds no code: it is the module of the tests of the
// Kubernetes manifests beside it (base/, overlays/). They build each
// kustomization with kustomize's library and decode every object strictly
// into its Kubernetes API type, or into the documented fields of the
// operators' resources, then check what the shop needs of them, including
// that every Deployment logs in to the broker with an account of its own
// whose permissions are those deploy/internal/brokeraccess computes. They
// also generate the broker account manifests from that package
// (go test -run TestBrokerAccountFiles -update). It is a module of its
// own, like deploy/e2e, so that the library's users never download the
// Kubernetes dependencies. See README.md.
package k8s
