package contract

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// docs are the doc comments of a set of packages, read from their
// source, so that the document describes each type, field and method in
// the words of the Go documentation.
type docs struct {
	loaded map[string]bool   // package paths read
	text   map[string]string // "pkg.Type", "pkg.Type.Field", "pkg.Service.Method" -> text
	root   string            // the shopbus module's directory, once found
}

func newDocs() *docs { return &docs{loaded: map[string]bool{}, text: map[string]string{}} }

// modulePath is the import path of the shopbus module.
const modulePath = "github.com/shopbus/shopbus"

// dir returns the directory of the package at pkgPath. Packages of the
// shopbus module are found from its root (one go command run); others
// through go/build.
func (d *docs) dir(pkgPath string) (string, error) {
	if rest, ok := strings.CutPrefix(pkgPath, modulePath+"/"); ok {
		if d.root == "" {
			wd, _ := os.Getwd()
			bp, err := build.Import(modulePath+"/contract", wd, build.FindOnly)
			if err != nil {
				return "", err
			}
			d.root = filepath.Dir(bp.Dir)
		}
		return filepath.Join(d.root, filepath.FromSlash(rest)), nil
	}
	wd, _ := os.Getwd()
	bp, err := build.Import(pkgPath, wd, build.FindOnly)
	return bp.Dir, err
}

// load reads the doc comments of the package at pkgPath, once. It needs
// the package's source (go/build finds it with the go command).
func (d *docs) load(pkgPath string) error {
	if d.loaded[pkgPath] || pkgPath == "" {
		return nil
	}
	d.loaded[pkgPath] = true
	dir, err := d.dir(pkgPath)
	if err != nil {
		return fmt.Errorf("contract: reading the documentation of %s: %w", pkgPath, err)
	}
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		return fmt.Errorf("contract: reading the documentation of %s: %w", pkgPath, err)
	}
	fset := token.NewFileSet()
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(bp.Dir, name), nil, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("contract: reading the documentation of %s: %w", pkgPath, err)
		}
		if f.Doc != nil {
			d.text[pkgPath] = new(doc.Package).Synopsis(f.Doc.Text())
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, spec := range g.Specs {
				ts := spec.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(g.Specs) == 1 {
					doc = g.Doc
				}
				key := pkgPath + "." + ts.Name.Name
				d.set(key, doc)
				switch t := ts.Type.(type) {
				case *ast.StructType:
					for _, field := range t.Fields.List {
						for _, name := range field.Names {
							d.set(key+"."+name.Name, field.Doc, field.Comment)
						}
					}
				case *ast.InterfaceType:
					for _, m := range t.Methods.List {
						for _, name := range m.Names {
							d.set(key+"."+name.Name, m.Doc, m.Comment)
						}
					}
				}
			}
		}
	}
	return nil
}

// set records the first of groups that has text, as one paragraph per
// paragraph of the comment.
func (d *docs) set(key string, groups ...*ast.CommentGroup) {
	for _, g := range groups {
		if text := flatten(g.Text()); text != "" {
			d.text[key] = text
			return
		}
	}
}

// flatten joins a comment's lines, keeping blank lines between paragraphs.
func flatten(text string) string {
	var paras []string
	for p := range strings.SplitSeq(strings.TrimSpace(text), "\n\n") {
		paras = append(paras, strings.Join(strings.Fields(p), " "))
	}
	return strings.TrimSpace(strings.Join(paras, "\n\n"))
}

// get returns the doc text recorded under key ("pkg" for a package's
// synopsis), or "".
func (d *docs) get(key string) string { return d.text[key] }

// goName turns a method's snake_case name into the Go method name the
// services use for it: "shipping_methods" is ShippingMethods.
func goName(snake string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(snake, "_") {
		if part == "" {
			continue
		}
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}
