package embedmongo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestWritesMakeNoTemporaryFiles checks that FerretDB's SQLite keeps its
// statement journals in memory. FerretDB inserts one document per
// statement in a transaction; where a statement changes pages that held
// data (here the _id index, with random ids) SQLite journals them, and past
// 64 KiB in a transaction it would spill the journal into a temporary file,
// unlinked at once, so the test watches the directory for creations.
func TestWritesMakeNoTemporaryFiles(t *testing.T) {
	// SQLite reads SQLITE_TMPDIR when the process starts: the writes run
	// in a child process of this test binary with a directory of its own.
	tempDir := os.Getenv("SQLITE_TMPDIR")
	if os.Getenv("EMBEDMONGO_TEMPFILES_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWritesMakeNoTemporaryFiles$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "EMBEDMONGO_TEMPFILES_CHILD=1", "SQLITE_TMPDIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestWritesMakeNoTemporaryFiles") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	dir := t.TempDir()
	_, client := start(t, dir)
	ctx := context.Background()
	coll := client.Database("temp").Collection("docs")
	body := strings.Repeat("x", 1000)
	insert := func(n int) {
		t.Helper()
		docs := make([]any, n)
		for i := range docs {
			docs[i] = bson.D{{Key: "_id", Value: uuid.NewString()}, {Key: "body", Value: body}}
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	insert(2000)
	waitForIDIndexes(t, openSQLite(t, filepath.Join(dir, "temp.sqlite")), 1)

	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, tempDir, syscall.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		insert(300)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 2900 {
		t.Fatalf("count: %d, %v", n, err)
	}
	if created := createdNames(t, fd); len(created) > 0 {
		t.Errorf("SQLite made %d temporary files, e.g. %s", len(created), created[0])
	}
}

// createdNames returns the names of the IN_CREATE events waiting on fd.
func createdNames(t *testing.T, fd int) []string {
	t.Helper()
	var names []string
	buf := make([]byte, 64*1024)
	for {
		n, err := syscall.Read(fd, buf)
		switch {
		case err == syscall.EAGAIN:
			return names // all read
		case err != nil:
			t.Fatalf("read the creations: %v", err) // not "none"
		case n <= 0:
			return names
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			names = append(names, strings.TrimRight(string(name), "\x00"))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
}
