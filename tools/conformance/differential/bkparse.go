package main

// Reads a JSON array of Dockerfile texts on stdin; prints one JSON object per
// input: the dump, heredocs per child, line ranges, warnings, or the error.
import (
	"bufio"
	"encoding/json"
	"os"
	"strings"

	"bkdiff/parser"
)

type heredoc struct {
	Name           string
	FileDescriptor uint
	Expand         bool
	Chomp          bool
	Content        string
}

type out struct {
	Dump     string      `json:"dump,omitempty"`
	Heredocs [][]heredoc `json:"heredocs,omitempty"`
	Lines    [][2]int    `json:"lines,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
	Error    string      `json:"error,omitempty"`
}

func main() {
	var inputs []string
	if err := json.NewDecoder(bufio.NewReader(os.Stdin)).Decode(&inputs); err != nil {
		panic(err)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, text := range inputs {
		var o out
		res, err := parser.Parse(strings.NewReader(text))
		if err != nil {
			o.Error = err.Error()
		} else {
			o.Dump = res.AST.Dump() + "\n"
			for _, c := range res.AST.Children {
				hs := []heredoc{}
				for _, h := range c.Heredocs {
					hs = append(hs, heredoc(h))
				}
				o.Heredocs = append(o.Heredocs, hs)
				o.Lines = append(o.Lines, [2]int{c.StartLine, c.EndLine})
			}
			for _, w := range res.Warnings {
				o.Warnings = append(o.Warnings, w.Short)
			}
		}
		enc.Encode(o)
	}
}
