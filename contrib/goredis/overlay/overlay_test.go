package overlay

import (
	"context"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A stand-in for go-redis's internal/pool/conn.go with the anchors
// PatchConn edits at.
const connSrc = `package pool

import "time"

type Conn struct {
	Inited    bool
	createdAt time.Time
}
`

func TestPatchConnAddsTheField(t *testing.T) {
	out, err := PatchConn([]byte(connSrc))
	require.NoError(t, err)
	assert.Contains(t, string(out), "\n\tsp shardLink\n}\n")
	formatted, err := format.Source(out)
	require.NoError(t, err)
	assert.Equal(t, string(formatted), string(out), "gofmt'd")
	f, err := parser.ParseFile(token.NewFileSet(), "conn.go", out, 0)
	require.NoError(t, err)
	fields := f.Scope.Lookup("Conn").Decl.(*ast.TypeSpec).Type.(*ast.StructType).Fields.List
	last := fields[len(fields)-1]
	assert.Equal(t, "sp", last.Names[0].Name)
}

func TestPatchConnFailsWithoutItsAnchors(t *testing.T) {
	for name, src := range map[string]string{
		"no struct":    strings.Replace(connSrc, "type Conn struct {", "type Conn2 struct {", 1),
		"no createdAt": strings.Replace(connSrc, "createdAt time.Time", "created time.Time", 1),
		"twice":        connSrc + "\ntype Conn struct {\n\tcreatedAt time.Time\n}\n",
	} {
		_, err := PatchConn([]byte(src))
		if assert.Error(t, err, name) {
			assert.Contains(t, err.Error(), "anchor", name)
		}
	}
}

// The embedded sources start with the build line installAdapter strips,
// and what is left is package pool with what go-redis's client uses.
func TestAdapterSources(t *testing.T) {
	for name, src := range map[string][]byte{"adapter": adapterSrc, "tests": adapterTestSrc} {
		code, ok := strings.CutPrefix(string(src), buildIgnore)
		require.True(t, ok, "%s: no build line", name)
		f, err := parser.ParseFile(token.NewFileSet(), name+".go", code, 0)
		require.NoError(t, err, name)
		assert.Equal(t, "pool", f.Name.Name, name)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "shardpool.go", adapterSrc, parser.ParseComments)
	require.NoError(t, err)
	require.NotNil(t, f.Doc, "the adapter's package comment")
	for _, name := range []string{"ConnPool", "NewConnPool", "Options", "Stats", "Pooler",
		"ErrClosed", "ErrPoolTimeout", "shardLink"} {
		assert.NotNil(t, f.Scope.Lookup(name), "the adapter declares %s", name)
	}
}

func TestFindShardpool(t *testing.T) {
	want, err := filepath.Abs(filepath.Join("..", "..", ".."))
	require.NoError(t, err)
	got, err := FindShardpool(".")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	_, err = FindShardpool(t.TempDir())
	assert.ErrorContains(t, err, "pass -shardpool")
}

func TestPrepareOut(t *testing.T) {
	base := t.TempDir()

	fresh := filepath.Join(base, "fresh", "overlay")
	require.NoError(t, prepareOut(fresh))
	assert.DirExists(t, fresh)

	foreign := filepath.Join(base, "foreign")
	require.NoError(t, os.MkdirAll(foreign, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(foreign, "keep.txt"), nil, 0o644))
	assert.ErrorContains(t, prepareOut(foreign), "no overlay written by this command")
	assert.FileExists(t, filepath.Join(foreign, "keep.txt"))

	earlier := filepath.Join(base, "earlier")
	require.NoError(t, os.MkdirAll(filepath.Join(earlier, "internal"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(earlier, markerFile), nil, 0o644))
	require.NoError(t, prepareOut(earlier))
	entries, err := os.ReadDir(earlier)
	require.NoError(t, err)
	assert.Empty(t, entries, "an earlier overlay is emptied")
}

func TestInstructions(t *testing.T) {
	assert.Equal(t, "go mod edit -replace github.com/go-redis/redis/v8=/tmp/ov\n"+
		"go mod edit -replace github.com/shardpool/shardpool='/src/my shardpool'\n"+
		"go mod tidy\n", Instructions("/tmp/ov", "/src/my shardpool"))
}

func TestVersionLess(t *testing.T) {
	assert.True(t, versionLess("1.17", "1.21"))
	assert.True(t, versionLess("1.21", "1.21.1"))
	assert.False(t, versionLess("1.21.0", "1.21"))
	assert.False(t, versionLess("1.26.0", "1.21"))
}

// TestWrite writes an overlay and checks it the way a user would build it:
// go vet, and the adapter's own tests (under -race when this test runs
// under it).
func TestWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writing an overlay downloads go-redis and builds it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := Download(ctx); err != nil {
		t.Skipf("go-redis %s cannot be downloaded here, so no overlay can be written: %v", GoRedisVersion, err)
	}
	sp, err := FindShardpool(".")
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "overlay")
	require.NoError(t, Write(ctx, Config{Out: out, Shardpool: sp}))

	pool := filepath.Join(out, "internal", "pool")
	assert.NoFileExists(t, filepath.Join(pool, "pool.go"), "v8's ConnPool is gone")
	src, err := os.ReadFile(filepath.Join(pool, "shardpool.go"))
	require.NoError(t, err)
	assert.False(t, strings.HasPrefix(string(src), "//go:build"), "written without the build line")
	goMod, err := os.ReadFile(filepath.Join(out, "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(goMod), ShardpoolModule+" => "+sp)

	goIn(ctx, t, out, "vet", "./internal/pool")
	args := []string{"test", "-count=1", "-run", "^TestShardpool"}
	if raceEnabled {
		args = append(args, "-race")
	}
	goIn(ctx, t, out, append(args, "./internal/pool")...)

	// A second Write replaces the first.
	require.NoError(t, Write(ctx, Config{Out: out, Shardpool: sp}))
	assert.FileExists(t, filepath.Join(pool, "shardpool.go"))
}

func goIn(ctx context.Context, t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
}
