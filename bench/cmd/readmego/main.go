// Command readmego compiles the Go code blocks of the repository's
// README.md, so that the README's code stays true as the API changes.
//
//	go run ./cmd/readmego [-root DIR]   (from bench/; CI runs it)
//
// Each ```go block is preceded by a line <!-- readme-go: NAME -->, and
// scripts/readme/NAME.go.tmpl is its harness: a Go file that stubs what
// the block takes from its surroundings, with the line //README:BODY where
// the block goes and, for a block that starts with type declarations,
// //README:DECLS where those go. A block without a name, or a name without
// a harness, fails the check. The blocks are put in packages of one module
// beside the repository's modules (through replace directives), which is
// then tidied and vetted: a block that does not compile, or that go vet
// finds fault with, fails the check.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// block is one ```go block of the README.
type block struct {
	name string // from the marker line before it
	line int    // of its opening fence, 1-based
	code []string
}

var marker = regexp.MustCompile(`^<!-- readme-go: ([a-z0-9-]+) -->$`)

// blocks returns the README's Go blocks, each with the name its marker
// gave it ("" when it had none).
func blocks(readme string) []block {
	var out []block
	var cur *block
	name := ""
	sc := bufio.NewScanner(strings.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.code = append(cur.code, line)
		case trimmed == "```go":
			cur = &block{name: name, line: n}
			name = ""
		case marker.MatchString(trimmed):
			name = marker.FindStringSubmatch(trimmed)[1]
		case trimmed != "":
			name = "" // a marker names the block right after it
		}
	}
	return out
}

// split returns the block's leading type declarations (each a line
// "type X ..." at column 0, through its closing "}" at column 0 if the line
// opens a brace, with the comments above it) and the statements after
// them.
func split(code []string) (decls, body []string) {
	i := 0
	for i < len(code) {
		j := i
		for j < len(code) && strings.HasPrefix(code[j], "//") {
			j++
		}
		if j == len(code) || !strings.HasPrefix(code[j], "type ") {
			break
		}
		if strings.HasSuffix(code[j], "{") { // a block: to its "}" at column 0
			for j < len(code) && code[j] != "}" {
				j++
			}
		}
		decls = append(decls, code[i:j+1]...)
		i = j + 1
		for i < len(code) && strings.TrimSpace(code[i]) == "" {
			i++
		}
	}
	return decls, code[i:]
}

// fill puts the block into its harness.
func fill(tmpl string, b block) (string, error) {
	decls, body := split(b.code)
	if len(decls) > 0 && !strings.Contains(tmpl, "//README:DECLS") {
		return "", fmt.Errorf("block %q declares types, and its harness has no //README:DECLS", b.name)
	}
	if !strings.Contains(tmpl, "//README:BODY") {
		return "", fmt.Errorf("the harness of %q has no //README:BODY", b.name)
	}
	out := strings.Replace(tmpl, "//README:DECLS", strings.Join(decls, "\n"), 1)
	return strings.Replace(out, "//README:BODY", strings.Join(body, "\n"), 1), nil
}

func run(dir string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func check(root string) error {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return err
	}
	bs := blocks(string(readme))
	if len(bs) == 0 {
		return errors.New("README.md has no Go block")
	}
	work, err := os.MkdirTemp("", "readmego")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	mod := "module readmego\n\ngo 1.26.0\n\nreplace (\n"
	for _, m := range []string{"", "/contrib/prometheus", "/contrib/otel"} {
		mod += fmt.Sprintf("\tgithub.com/shardpool/shardpool%s => %s\n", m, filepath.Join(root, m))
	}
	mod += ")\n"
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(mod), 0o644); err != nil {
		return err
	}
	for i, b := range bs {
		if b.name == "" {
			return fmt.Errorf("README.md:%d: a Go block without a <!-- readme-go: NAME --> line before it", b.line)
		}
		tmpl, err := os.ReadFile(filepath.Join(root, "scripts", "readme", b.name+".go.tmpl"))
		if err != nil {
			return fmt.Errorf("README.md:%d: block %q: %w", b.line, b.name, err)
		}
		src, err := fill(string(tmpl), b)
		if err != nil {
			return fmt.Errorf("README.md:%d: %w", b.line, err)
		}
		pkg := filepath.Join(work, fmt.Sprintf("b%d_%s", i+1, strings.ReplaceAll(b.name, "-", "_")))
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(src), 0o644); err != nil {
			return err
		}
		fmt.Printf("README.md:%d: block %q\n", b.line, b.name)
	}
	// The replaced modules stand at v0.0.0; tidy records them and their
	// requirements, as a user's go get would.
	for _, m := range []string{"", "/contrib/prometheus", "/contrib/otel"} {
		if err := run(work, "mod", "edit", "-require=github.com/shardpool/shardpool"+m+"@v0.0.0"); err != nil {
			return err
		}
	}
	if err := run(work, "mod", "tidy"); err != nil {
		return fmt.Errorf("go mod tidy: %w", err)
	}
	if err := run(work, "vet", "./..."); err != nil {
		return fmt.Errorf("go vet of the README's blocks (line numbers are of the generated files): %w", err)
	}
	fmt.Printf("%d Go blocks of README.md compile and vet clean\n", len(bs))
	return nil
}

func main() {
	root := flag.String("root", "..", "the repository's root")
	flag.Parse()
	abs, err := filepath.Abs(*root)
	if err == nil {
		err = check(abs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "readmego:", err)
		os.Exit(1)
	}
}
