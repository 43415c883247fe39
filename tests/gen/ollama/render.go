// Renders Ollama TEMPLATE texts the way Ollama executes them, for
// tests/gen/make_ollama_template_fixtures.py (not part of the build; needs Go:
// `apt-get install golang-go`, see scripts/deps.sh --gen).
//
// The data model follows Ollama's template package (template/template.go,
// server/prompt.go in github.com/ollama/ollama, read for its semantics):
//   - text/template with Option("missingkey=zero") and a "json" function
//     (encoding/json Marshal, HTML escaping on);
//   - a template that names .Messages gets System (every system message joined
//     by "\n\n"), Messages (consecutive messages of one role merged with
//     "\n\n", tool messages never), Tools, Response "", Think, ThinkLevel,
//     IsThinkSet; a message has Role, Content, Thinking, ToolCalls
//     ({ID, Function{Index, Name, Arguments map}}), ToolName, ToolCallID;
//   - tool call arguments are a map (range visits keys in sorted order),
//     numbers decode as float64;
//   - a tool is {Type, Function{Name, Description, Parameters{Type, Required,
//     Properties map of {Type, Items, Description, Enum}}}}, each printing
//     as its compact JSON.
// Input (stdin): {"template": TEXT, "cases": [{"messages": [...], "tools":
// [...], "think": true|false|null}]}, messages as in the OpenAI chat API plus
// "thinking". Output (stdout): a JSON list of {"text": ...} or {"error": ...}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type propertyType []string

func (pt propertyType) MarshalJSON() ([]byte, error) {
	if len(pt) == 1 {
		return json.Marshal(pt[0])
	}
	return json.Marshal([]string(pt))
}

func (pt *propertyType) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*pt = []string{s}
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	*pt = a
	return nil
}

type toolProperty struct {
	Type        propertyType `json:"type,omitempty"`
	Items       any          `json:"items,omitempty"`
	Description string       `json:"description,omitempty"`
	Enum        []any        `json:"enum,omitempty"`
}

type properties map[string]toolProperty

func (p properties) String() string { b, _ := json.Marshal(p); return string(b) }

type tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Parameters  struct {
			Type       string     `json:"type"`
			Required   []string   `json:"required,omitempty"`
			Properties properties `json:"properties"`
		} `json:"parameters"`
	} `json:"function"`
}

func (t tool) String() string { b, _ := json.Marshal(t); return string(b) }

type tools []tool

func (t tools) String() string { b, _ := json.Marshal(t); return string(b) }

type args map[string]any

func (a args) String() string {
	if a == nil {
		return "{}"
	}
	b, _ := json.Marshal(a)
	return string(b)
}

type toolCall struct {
	ID       string
	Function struct {
		Index     int
		Name      string
		Arguments args
	}
}

type message struct {
	Role       string
	Content    string
	Thinking   string
	ToolCalls  []toolCall
	ToolName   string
	ToolCallID string
}

type inCall struct {
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type inMsg struct {
	Role      string   `json:"role"`
	Content   string   `json:"content"`
	Thinking  string   `json:"thinking"`
	ToolCalls []inCall `json:"tool_calls"`
}

type inCase struct {
	Messages []inMsg `json:"messages"`
	Tools    tools   `json:"tools"`
	Think    *bool   `json:"think"`
}

type result struct {
	Text  *string `json:"text,omitempty"`
	Error string  `json:"error,omitempty"`
}

func render(t *template.Template, c inCase) (string, error) {
	var system []string
	var msgs []*message
	for i, m := range c.Messages {
		if m.Role == "system" {
			system = append(system, m.Content)
		}
		if len(msgs) > 0 && msgs[len(msgs)-1].Role == m.Role && m.Role != "tool" {
			msgs[len(msgs)-1].Content += "\n\n" + m.Content
			continue
		}
		tm := &message{Role: m.Role, Content: m.Content, Thinking: m.Thinking}
		for k, ic := range m.ToolCalls {
			var tc toolCall
			tc.Function.Index = k
			tc.Function.Name = ic.Function.Name
			if len(ic.Function.Arguments) > 0 {
				if err := json.Unmarshal(ic.Function.Arguments, &tc.Function.Arguments); err != nil {
					return "", fmt.Errorf("message %d: arguments: %v", i, err)
				}
			}
			tm.ToolCalls = append(tm.ToolCalls, tc)
		}
		msgs = append(msgs, tm)
	}
	var b bytes.Buffer
	err := t.Execute(&b, map[string]any{
		"System":     strings.Join(system, "\n\n"),
		"Messages":   msgs,
		"Tools":      c.Tools,
		"Response":   "",
		"Think":      c.Think != nil && *c.Think,
		"ThinkLevel": "",
		"IsThinkSet": c.Think != nil,
	})
	return b.String(), err
}

func main() {
	var in struct {
		Template string   `json:"template"`
		Cases    []inCase `json:"cases"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "render: input:", err)
		os.Exit(2)
	}
	funcs := template.FuncMap{"json": func(v any) string { b, _ := json.Marshal(v); return string(b) }}
	t, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(in.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, "render: template:", err)
		os.Exit(1)
	}
	out := make([]result, len(in.Cases))
	for i, c := range in.Cases {
		s, err := render(t, c)
		if err != nil {
			out[i].Error = err.Error()
		} else {
			out[i].Text = &s
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}
