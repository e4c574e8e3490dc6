module naestro.local/k8s-schemas

go 1.26
