// Command k8s-schemas turns Kubernetes' own OpenAPI document (api/openapi-spec/swagger.json
// of the k8s.io/kubernetes module, fetched from the Go module proxy by
// scripts/install-deploy-tools.sh) into one strict, standalone JSON schema per kind, named as
// kubeconform's -schema-location template '{{ .ResourceKind }}{{ .KindSuffix }}.json'
// expects (deployment-apps-v1.json, service-v1.json). kubeconform then validates rendered
// manifests offline, against the schemas of the Kubernetes version the module pins.
//
// Strict means what kubectl's client-side validation does: an object schema with properties
// refuses other keys (a typo such as `resource:` fails). int-or-string fields take either,
// and resource quantities a string or a number, as the API server does. apiVersion and kind
// are pinned to the file's own group, version and kind.
//
//	usage: k8s-schemas SWAGGER_JSON OUT_DIR
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const refPrefix = "#/definitions/"

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: k8s-schemas SWAGGER_JSON OUT_DIR")
		os.Exit(2)
	}
	n, err := run(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-schemas:", err)
		os.Exit(1)
	}
	fmt.Printf("k8s-schemas: %d schemas in %s\n", n, os.Args[2])
}

func run(swaggerPath, out string) (int, error) {
	raw, err := os.ReadFile(swaggerPath)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", swaggerPath, err)
	}
	if len(doc.Definitions) == 0 {
		return 0, fmt.Errorf("%s: no definitions", swaggerPath)
	}
	defs := map[string]any{}
	for name, def := range doc.Definitions {
		defs[name] = strictify(name, def)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	written := map[string]string{}
	for _, name := range sortedKeys(doc.Definitions) {
		kinds, err := groupVersionKinds(doc.Definitions[name])
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		// Only top-level resources: the list kinds and option types carry a gvk too, but
		// resources are the ones with metadata and a kind of their own.
		if len(kinds) != 1 {
			continue
		}
		file := fileName(kinds[0])
		if prev, dup := written[file]; dup {
			return 0, fmt.Errorf("%s and %s both map to %s", prev, name, file)
		}
		written[file] = name
		schema := standalone(name, kinds[0], defs)
		data, err := json.Marshal(schema)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(out, file), data, 0o644); err != nil {
			return 0, err
		}
	}
	return len(written), nil
}

func groupVersionKinds(def map[string]any) ([]gvk, error) {
	raw, ok := def["x-kubernetes-group-version-kind"]
	if !ok {
		return nil, nil
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var kinds []gvk
	err = json.Unmarshal(data, &kinds)
	return kinds, err
}

// fileName follows kubeconform's KindSuffix: "-<first label of the group>-<version>", or
// "-<version>" for the core group.
func fileName(k gvk) string {
	suffix := "-" + strings.ToLower(k.Version)
	if k.Group != "" {
		suffix = "-" + strings.ToLower(strings.Split(k.Group, ".")[0]) + suffix
	}
	return strings.ToLower(k.Kind) + suffix + ".json"
}

func apiVersion(k gvk) string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// standalone is the definition itself plus every definition it reaches, under
// "definitions", so that its "#/definitions/..." references resolve inside the one file.
func standalone(name string, k gvk, defs map[string]any) map[string]any {
	reached := map[string]bool{}
	var visit func(any)
	visit = func(node any) {
		switch v := node.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && strings.HasPrefix(ref, refPrefix) {
				target := strings.TrimPrefix(ref, refPrefix)
				if !reached[target] {
					reached[target] = true
					visit(defs[target])
				}
			}
			for _, child := range v {
				visit(child)
			}
		case []any:
			for _, child := range v {
				visit(child)
			}
		}
	}
	root := copyMap(defs[name].(map[string]any))
	visit(root)
	closure := map[string]any{}
	for target := range reached {
		closure[target] = defs[target]
	}
	props := copyMap(root["properties"].(map[string]any))
	props["apiVersion"] = map[string]any{"type": "string", "enum": []any{apiVersion(k)}}
	props["kind"] = map[string]any{"type": "string", "enum": []any{k.Kind}}
	root["properties"] = props
	root["required"] = unionRequired(root["required"], "apiVersion", "kind")
	root["$schema"] = "http://json-schema.org/draft-04/schema#"
	root["definitions"] = closure
	return root
}

func unionRequired(existing any, names ...string) []any {
	seen := map[string]bool{}
	var out []any
	if list, ok := existing.([]any); ok {
		for _, item := range list {
			if s, ok := item.(string); ok && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	for _, s := range names {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// strictify rewrites one definition: closed objects, int-or-string and quantities.
func strictify(name string, def map[string]any) any {
	if name == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
		return map[string]any{
			"description": def["description"],
			"oneOf":       []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}},
		}
	}
	return rewrite(def)
}

func rewrite(node any) any {
	switch v := node.(type) {
	case map[string]any:
		if format, _ := v["format"].(string); format == "int-or-string" {
			return map[string]any{
				"description": v["description"],
				"oneOf": []any{
					map[string]any{"type": "string"}, map[string]any{"type": "integer"},
				},
			}
		}
		out := map[string]any{}
		for key, child := range v {
			if key == "properties" {
				props := map[string]any{}
				for prop, schema := range child.(map[string]any) {
					props[prop] = rewrite(schema)
				}
				out[key] = props
				continue
			}
			out[key] = rewrite(child)
		}
		if _, has := v["properties"]; has {
			if _, open := v["additionalProperties"]; !open {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, child := range v {
			out[i] = rewrite(child)
		}
		return out
	default:
		return v
	}
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
