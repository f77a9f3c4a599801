package api

import "strconv"

// port reads the form's port field: empty is 0 (the image's EXPOSE); what
// is not a number becomes -1, which the project's validation refuses.
func (f projectForm) port() int {
	if f.Port == "" {
		return 0
	}
	n, err := strconv.Atoi(f.Port)
	if err != nil {
		return -1
	}
	return n
}

// formPortOf shows a stored port in the form: 0 is left empty.
func formPortOf(port int) string {
	if port == 0 {
		return ""
	}
	return strconv.Itoa(port)
}
