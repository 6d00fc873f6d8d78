// A stand-in for `helm template`: Go text/template + Sprig + Helm's include/tpl/required/toYaml.
// usage: helmrender CHART_DIR RELEASE [values.yaml ...] [--set-yaml 'yaml snippet' ...]
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

func toJSONish(v interface{}) interface{} {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func readYAML(data []byte) map[string]interface{} {
	var m map[string]interface{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		panic(err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return toJSONish(m).(map[string]interface{})
}

func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				merge(dm, sm)
				continue
			}
		}
		if v == nil {
			delete(dst, k)
			continue
		}
		dst[k] = v
	}
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func main() {
	chart := os.Args[1]
	release := os.Args[2]
	values := readYAML(must(os.ReadFile(filepath.Join(chart, "values.yaml"))))
	args := os.Args[3:]
	for i := 0; i < len(args); i++ {
		if args[i] == "--set-yaml" {
			i++
			merge(values, readYAML([]byte(args[i])))
		} else {
			merge(values, readYAML(must(os.ReadFile(args[i]))))
		}
	}
	chartMeta := readYAML(must(os.ReadFile(filepath.Join(chart, "Chart.yaml"))))
	caps := map[string]interface{}{}
	for k, v := range chartMeta {
		caps[strings.ToUpper(k[:1])+k[1:]] = v
	}
	data := map[string]interface{}{
		"Values":  values,
		"Chart":   caps,
		"Release": map[string]interface{}{"Name": release, "Namespace": "impp", "Service": "Helm", "IsInstall": true, "IsUpgrade": false},
		"Capabilities": map[string]interface{}{"KubeVersion": map[string]interface{}{"Version": "v1.30.0"}},
	}

	t := template.New("chart")
	funcs := sprig.TxtFuncMap()
	includedNames := map[string]int{}
	funcs["include"] = func(name string, d interface{}) (string, error) {
		var buf strings.Builder
		includedNames[name]++
		if includedNames[name] > 1000 {
			return "", fmt.Errorf("recursion in %s", name)
		}
		err := t.ExecuteTemplate(&buf, name, d)
		includedNames[name]--
		return buf.String(), err
	}
	funcs["tpl"] = func(s string, d interface{}) (string, error) {
		tt, err := t.Clone()
		if err != nil {
			return "", err
		}
		tt, err = tt.New("tpl").Parse(s)
		if err != nil {
			return "", err
		}
		var buf strings.Builder
		err = tt.Execute(&buf, d)
		return buf.String(), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, fmt.Errorf(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, fmt.Errorf(msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} { return readYAML([]byte(s)) }
	funcs["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	t.Funcs(funcs).Option("missingkey=zero")

	files, _ := filepath.Glob(filepath.Join(chart, "templates", "*"))
	sort.Strings(files)
	for _, f := range files {
		name := "impp/templates/" + filepath.Base(f)
		if _, err := t.New(name).Parse(string(must(os.ReadFile(f)))); err != nil {
			fmt.Fprintln(os.Stderr, "parse:", err)
			os.Exit(2)
		}
	}
	failed := false
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") {
			continue
		}
		name := "impp/templates/" + base
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			fmt.Fprintln(os.Stderr, "render:", err)
			failed = true
			continue
		}
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			fmt.Printf("--- NOTES\n%s\n", out)
			continue
		}
		if strings.TrimSpace(out) == "" {
			continue
		}
		// every document must parse as YAML
		dec := yaml.NewDecoder(strings.NewReader(out))
		for {
			var doc interface{}
			if err := dec.Decode(&doc); err != nil {
				if err.Error() == "EOF" {
					break
				}
				fmt.Fprintf(os.Stderr, "yaml in %s: %v\n%s\n", base, err, out)
				failed = true
				break
			}
		}
		fmt.Printf("---\n# Source: %s\n%s\n", name, out)
	}
	if failed {
		os.Exit(1)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
