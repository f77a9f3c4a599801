package page

import (
	"html/template"
	"net/http"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} · berth</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1f2328}
main{max-width:32rem;padding:2rem}h1{font-size:1.4rem;margin:0 0 .5rem}p{margin:0;color:#57606a}small{display:block;margin-top:1.5rem;color:#8c959f}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Text}}</p><small>{{.Status}} · berth</small></main></body></html>
`))

// Write answers with a small self-contained HTML page (no external
// assets: the machine may be offline).
func Write(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	pageTmpl.Execute(w, struct {
		Title, Text string
		Status      int
	}{title, text, status})
}
