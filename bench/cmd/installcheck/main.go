// Command installcheck installs the contrib modules as a user would, outside
// this repository's layout, and builds their examples:
//
//	go run ./cmd/installcheck [-root DIR]   (from bench/; CI runs it)
//
// Inside the repository each contrib module requires a release of the root
// module (contrib/*/go.mod) and a replace directive builds it against the
// working tree. A user's build ignores those replaces, so it resolves the
// required release from a module proxy. This check serves the working
// tree's modules at the versions the contrib modules name, from a file
// proxy it writes (ahead of the module cache and the usual proxy, for the
// other dependencies), makes a new module in a temporary directory, runs
// go get for each contrib module, and builds and vets the copies of their
// examples there. A contrib module that requires a root release the check
// cannot serve, an example that needs the repository's layout, or a replace
// a user would need, fails it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const rootPath = "github.com/shardpool/shardpool"

// contribs are the modules a user installs, each with its example.
var contribs = []string{"contrib/prometheus", "contrib/otel"}

// served is a module the file proxy serves.
type served struct {
	path, version, dir string
}

func main() {
	root := flag.String("root", "..", "the repository's root")
	flag.Parse()
	abs, err := filepath.Abs(*root)
	if err == nil {
		err = check(abs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "installcheck:", err)
		os.Exit(1)
	}
}

func check(root string) error {
	work, err := os.MkdirTemp("", "installcheck")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// Each contrib module at the version it will be tagged with, the
	// version of the root release it requires: they are released together.
	var mods []served
	rootVersion := ""
	for _, c := range contribs {
		mf, err := readModFile(filepath.Join(root, c, "go.mod"))
		if err != nil {
			return err
		}
		v := requiredVersion(mf, rootPath)
		if v == "" {
			return fmt.Errorf("%s/go.mod does not require %s", c, rootPath)
		}
		if v == "v0.0.0" || module.IsPseudoVersion(v) {
			return fmt.Errorf("%s/go.mod requires %s %s: not a release a user can get", c, rootPath, v)
		}
		if rootVersion != "" && v != rootVersion {
			return fmt.Errorf("%s requires %s %s, another contrib module %s", c, rootPath, v, rootVersion)
		}
		rootVersion = v
		mods = append(mods, served{mf.Module.Mod.Path, v, filepath.Join(root, c)})
	}
	mods = append(mods, served{rootPath, rootVersion, root})

	proxy := filepath.Join(work, "proxy")
	for _, m := range mods {
		if err := serve(proxy, m); err != nil {
			return fmt.Errorf("serving %s@%s: %w", m.path, m.version, err)
		}
	}

	user := filepath.Join(work, "user")
	for _, c := range contribs {
		ex := filepath.Join(root, c, "example")
		dst := filepath.Join(user, strings.ReplaceAll(c, "/", "-"))
		if err := copyGo(ex, dst); err != nil {
			return fmt.Errorf("copying %s's example: %w", c, err)
		}
	}
	if err := os.WriteFile(filepath.Join(user, "go.mod"), []byte("module example.com/user\n\ngo 1.26.0\n"), 0o644); err != nil {
		return err
	}

	cache, err := goEnv("GOMODCACHE")
	if err != nil {
		return err
	}
	upstream, err := goEnv("GOPROXY")
	if err != nil {
		return err
	}
	env := append(os.Environ(),
		// The file proxy first; the module cache's download directory (a
		// proxy too) for the dependencies already fetched; then the usual.
		"GOPROXY=file://"+proxy+",file://"+filepath.Join(cache, "cache", "download")+","+upstream,
		"GOMODCACHE="+filepath.Join(work, "modcache"), // so that the served zips are not cached for later builds
		"GOSUMDB=off", // the served versions are not in the checksum database
		"GOFLAGS=-mod=mod",
		"GOWORK=off",
	)
	get := []string{"get"}
	for _, m := range mods[:len(contribs)] {
		get = append(get, m.path+"@"+m.version)
	}
	for _, args := range [][]string{get, {"mod", "tidy"}, {"build", "./..."}, {"vet", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = user, env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s in a user's module: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	mf, err := readModFile(filepath.Join(user, "go.mod"))
	if err != nil {
		return err
	}
	if len(mf.Replace) != 0 {
		return fmt.Errorf("the user's go.mod needed a replace: %v", mf.Replace)
	}
	fmt.Printf("a user's module outside the repository: go get %s, then built and vetted the examples of %s against %s %s\n",
		strings.Join(get[1:], " "), strings.Join(contribs, " and "), rootPath, rootVersion)
	return nil
}

func readModFile(path string) (*modfile.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return modfile.Parse(path, data, nil)
}

func requiredVersion(mf *modfile.File, path string) string {
	for _, r := range mf.Require {
		if r.Mod.Path == path {
			return r.Mod.Version
		}
	}
	return ""
}

// serve writes m into the file proxy at dir: its .info, .mod and .zip
// (the zip leaves out nested modules, as the go command's does) and its
// list.
func serve(dir string, m served) error {
	esc, err := module.EscapePath(m.path)
	if err != nil {
		return err
	}
	at := filepath.Join(dir, esc, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	info, _ := json.Marshal(map[string]any{"Version": m.version, "Time": time.Now().UTC()})
	if err := os.WriteFile(filepath.Join(at, m.version+".info"), info, 0o644); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(m.dir, "go.mod"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(at, m.version+".mod"), gomod, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(at, "list"), []byte(m.version+"\n"), 0o644); err != nil {
		return err
	}
	z, err := os.Create(filepath.Join(at, m.version+".zip"))
	if err != nil {
		return err
	}
	defer z.Close()
	return modzip.CreateFromDir(z, module.Version{Path: m.path, Version: m.version}, m.dir)
}

// copyGo copies the .go files of src (not its tests) into dst.
func copyGo(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, fs.FileMode(0o644)); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s has no Go file", src)
	}
	return nil
}

func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	return strings.TrimSpace(string(out)), err
}
