package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBlocksAreNamedByTheLineBefore(t *testing.T) {
	readme := "text\n<!-- readme-go: one -->\n```go\na := 1\n```\n\n<!-- readme-go: two -->\nprose between\n```go\nb := 2\n```\n```sh\nls\n```\n"
	bs := blocks(readme)
	require.Len(t, bs, 2)
	assert.Equal(t, "one", bs[0].name)
	assert.Equal(t, []string{"a := 1"}, bs[0].code)
	assert.Equal(t, 3, bs[0].line)
	assert.Empty(t, bs[1].name, "a marker names only the block right after it")
}

func TestTypeDeclarationsGoAboveTheBody(t *testing.T) {
	code := strings.Split("// doc\ntype s struct {\n\tx int\n}\n\ntype t int\nv := s{}\n_ = v", "\n")
	decls, body := split(code)
	assert.Equal(t, []string{"// doc", "type s struct {", "\tx int", "}", "type t int"}, decls)
	assert.Equal(t, []string{"v := s{}", "_ = v"}, body)

	out, err := fill("package main\n//README:DECLS\nfunc main() {\n//README:BODY\n}\n", block{name: "x", code: code})
	require.NoError(t, err)
	assert.Contains(t, out, "type t int\nfunc main() {\nv := s{}")
	_, err = fill("package main\nfunc main() {\n//README:BODY\n}\n", block{name: "x", code: code})
	assert.Error(t, err, "declarations with nowhere to go")
}
