// Package overlay writes a copy of go-redis v8.11.5 whose connection pool
// runs on shardpool: an overlay that a module points its go-redis
// requirement at with a replace directive, and then uses go-redis's own
// client unchanged.
//
// The copy is go-redis's module as `go mod download` fetches it, with one
// package changed: internal/pool loses pool.go (v8's ConnPool) and gains
// shardpool.go, an adapter that implements v8's Pooler, Options, Stats and
// errors over a shardpool.ConnPool, with its tests (shardpool_test.go). Its
// conn.go gets one field, the link from go-redis's Conn to the shardpool
// connection that carries it. The adapter's source is pool_adapter.go in
// this directory (built only into the overlay: it carries a build line
// that keeps it out of this module); no go-redis source is kept here.
package overlay

import (
	"bytes"
	"context"
	_ "embed" // the adapter's source
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// The modules involved.
const (
	GoRedisModule   = "github.com/go-redis/redis/v8"
	GoRedisVersion  = "v8.11.5"
	ShardpoolModule = "github.com/shardpool/shardpool"
)

// The adapter and its tests, written into the overlay's internal/pool
// without their first line (the build line that keeps them out of this
// module).
var (
	//go:embed pool_adapter.go
	adapterSrc []byte
	//go:embed pool_adapter_test.go
	adapterTestSrc []byte
)

// buildIgnore is the line the adapter's sources start with.
const buildIgnore = "//go:build ignore\n\n"

// markerFile marks a directory as an overlay that Write wrote, which a later
// Write may replace.
const markerFile = ".shardpool-overlay"

// Config says where Write reads and writes.
type Config struct {
	// Out is the directory to write the overlay to. It is created; if it
	// exists it must be empty or hold an earlier overlay, which is
	// replaced.
	Out string
	// Shardpool is the root of the shardpool checkout the overlay uses
	// (see FindShardpool).
	Shardpool string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Write fetches go-redis v8.11.5, copies it to cfg.Out with its pool
// replaced by the adapter, and makes the copy's go.mod require shardpool
// from cfg.Shardpool (and `go mod tidy` it), so that the copy builds and
// its tests run on their own.
func Write(ctx context.Context, cfg Config) error {
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	out, err := filepath.Abs(cfg.Out)
	if err != nil {
		return err
	}
	sp, err := filepath.Abs(cfg.Shardpool)
	if err != nil {
		return err
	}
	if err := checkShardpool(sp); err != nil {
		return err
	}
	logf("fetching %s@%s", GoRedisModule, GoRedisVersion)
	src, err := Download(ctx)
	if err != nil {
		return err
	}
	if err := prepareOut(out); err != nil {
		return err
	}
	logf("copying %s to %s", src, out)
	if err := copyTree(src, out); err != nil {
		return err
	}
	if err := installAdapter(filepath.Join(out, "internal", "pool")); err != nil {
		return err
	}
	logf("requiring shardpool from %s (go mod tidy)", sp)
	if err := wireModule(ctx, out, sp); err != nil {
		return err
	}
	note := fmt.Sprintf("%s@%s with internal/pool on %s at %s\n", GoRedisModule, GoRedisVersion, ShardpoolModule, sp)
	return os.WriteFile(filepath.Join(out, markerFile), []byte(note), 0o644)
}

// Instructions returns the commands that point a module at the overlay in
// out and at the shardpool checkout sp, one a line.
func Instructions(out, sp string) string {
	return fmt.Sprintf("go mod edit -replace %s=%s\ngo mod edit -replace %s=%s\ngo mod tidy\n",
		GoRedisModule, shellQuote(out), ShardpoolModule, shellQuote(sp))
}

// shellQuote quotes s for a POSIX shell if it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '+' || r == ':' || r == '@' ||
			'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// FindShardpool returns the shardpool checkout that holds dir: the nearest
// directory at or above dir whose go.mod declares ShardpoolModule.
func FindShardpool(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modulePath(data) == ShardpoolModule {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod declaring module %s at or above %s; pass -shardpool", ShardpoolModule, dir)
		}
	}
}

// checkShardpool reports whether sp is a shardpool checkout.
func checkShardpool(sp string) error {
	data, err := os.ReadFile(filepath.Join(sp, "go.mod"))
	if err != nil {
		return fmt.Errorf("shardpool checkout: %w", err)
	}
	if got := modulePath(data); got != ShardpoolModule {
		return fmt.Errorf("shardpool checkout: %s/go.mod declares module %q, want %s", sp, got, ShardpoolModule)
	}
	return nil
}

// goModLine returns the argument of the first line of a go.mod that starts
// with directive ("module", "go"), without quotes or comment, or "".
func goModLine(data []byte, directive string) string {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == directive {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

func modulePath(data []byte) string { return goModLine(data, "module") }

// Download fetches go-redis v8.11.5 into the module cache (if it is not
// there yet) and returns its directory there.
func Download(ctx context.Context) (string, error) {
	mod := GoRedisModule + "@" + GoRedisVersion
	// Outside any module, so that the caller's go.mod or go.work plays no part.
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, runErr := cmd.Output()
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(stdout, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %v: %s", mod, runErr, strings.TrimSpace(stderr.String()))
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", mod, info.Error)
	}
	return info.Dir, nil
}

// prepareOut makes out an empty directory: it creates it, or empties it if
// it holds an earlier overlay. It refuses anything else.
func prepareOut(out string) error {
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(out, 0o755)
	case err != nil:
		return err
	case len(entries) == 0:
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, markerFile)); err != nil {
		return fmt.Errorf("%s is not empty and holds no overlay written by this command (no %s); choose another directory", out, markerFile)
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	return os.Mkdir(out, 0o755)
}

// copyTree copies the module at src (read-only in the module cache) to dst,
// writable by its owner.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		return os.WriteFile(target, data, mode)
	})
}

// installAdapter replaces v8's ConnPool in dir (the copy's internal/pool)
// by the adapter and its tests, and links conn.go's Conn to shardpool.
// go-redis's other files there stay as they are: pool_single.go and
// pool_sticky.go use the adapter through the Pooler interface.
func installAdapter(dir string) error {
	for _, name := range []string{"pool_single.go", "pool_sticky.go"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("go-redis's internal/pool has changed: %w", err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "pool.go")); err != nil {
		return fmt.Errorf("removing v8's ConnPool: %w", err)
	}
	for name, src := range map[string][]byte{"shardpool.go": adapterSrc, "shardpool_test.go": adapterTestSrc} {
		code, ok := bytes.CutPrefix(src, []byte(buildIgnore))
		if !ok {
			return fmt.Errorf("the embedded source of %s does not start with %q", name, buildIgnore)
		}
		if err := writeNew(filepath.Join(dir, name), code); err != nil {
			return err
		}
	}
	connGo := filepath.Join(dir, "conn.go")
	src, err := os.ReadFile(connGo)
	if err != nil {
		return err
	}
	patched, err := PatchConn(src)
	if err != nil {
		return fmt.Errorf("%s: %w", connGo, err)
	}
	return os.WriteFile(connGo, patched, 0o644)
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// edit replaces the one occurrence of anchor by replacement.
type edit struct{ anchor, replacement string }

// connEdits add the adapter's field to go-redis v8.11.5's Conn, after its
// last field. The field's type, shardLink, is declared in shardpool.go.
var connEdits = []edit{{
	anchor: "type Conn struct {\n",
}, {
	anchor: "\tcreatedAt time.Time\n}\n",
	replacement: "\tcreatedAt time.Time\n\n" +
		"\t// sp links the Conn to the shardpool connection that carries it\n" +
		"\t// (shardpool.go); its zero value for a Conn made outside any pool.\n" +
		"\tsp shardLink\n}\n",
}}

// PatchConn adds the adapter's field to the source of go-redis's
// internal/pool/conn.go and returns it gofmt'd. It fails if any anchor of
// its edits is missing or not unique: go-redis has changed, and the edits
// need a look.
func PatchConn(src []byte) ([]byte, error) {
	return applyEdits(src, connEdits)
}

// applyEdits applies edits to src in turn and gofmts the result. An edit
// without a replacement only checks that its anchor is there, once.
func applyEdits(src []byte, edits []edit) ([]byte, error) {
	s := string(src)
	for _, e := range edits {
		if n := strings.Count(s, e.anchor); n != 1 {
			return nil, fmt.Errorf("anchor %q found %d times, want once: the source has changed", e.anchor, n)
		}
		if e.replacement != "" {
			s = strings.Replace(s, e.anchor, e.replacement, 1)
		}
	}
	out, err := format.Source([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("the edited source does not parse: %w", err)
	}
	return out, nil
}

// wireModule makes the overlay's go.mod require shardpool from the
// checkout sp, at least at shardpool's go version, and tidies it (which
// fills go.sum, for shardpool's requirements and the adapter's).
func wireModule(ctx context.Context, dir, sp string) error {
	spMod, err := os.ReadFile(filepath.Join(sp, "go.mod"))
	if err != nil {
		return err
	}
	ownMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	args := []string{"mod", "edit",
		"-require=" + ShardpoolModule + "@v0.0.0",
		"-replace=" + ShardpoolModule + "=" + sp}
	if v := goModLine(spMod, "go"); v != "" && versionLess(goModLine(ownMod, "go"), v) {
		args = append(args, "-go="+v)
	}
	if err := runGo(ctx, dir, args...); err != nil {
		return err
	}
	return runGo(ctx, dir, "mod", "tidy")
}

// versionLess reports whether Go version a ("1.17") is older than b
// ("1.21", "1.21.0").
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int // a missing or malformed part counts as 0
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// runGo runs the go command in dir, outside any workspace.
func runGo(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return nil
}
