package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// statusOf maps error codes to HTTP statuses: the one table.
var statusOf = map[string]int{
	store.ENOTFOUND:     http.StatusNotFound,
	store.EINVALID:      http.StatusBadRequest,
	store.ECONFLICT:     http.StatusConflict,
	store.EUNAUTHORIZED: http.StatusUnauthorized,
	store.EFORBIDDEN:    http.StatusForbidden,
	store.ETOOMANY:      http.StatusTooManyRequests,
	store.EINTERNAL:     http.StatusInternalServerError,
	store.ELIMIT:        http.StatusTooManyRequests,
}

// codeOf maps statuses Echo raises itself (unknown route, bad method, body
// too large) back to codes.
var codeOf = map[int]string{
	http.StatusNotFound:              store.ENOTFOUND,
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnauthorized:          store.EUNAUTHORIZED,
	http.StatusBadRequest:            store.EINVALID,
	http.StatusUnsupportedMediaType:  store.EINVALID,
	http.StatusTooManyRequests:       store.ETOOMANY,
}

// errorHandler turns every error into {"error": sentence, "code": code}.
// Internal errors are logged and answered with a generic sentence.
func (s *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := store.ErrorCode(err), store.ErrorMessage(err)
	status := statusOf[code]
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		code = codeOf[he.Code]
		if code == "" {
			code = "error"
		}
		msg = http.StatusText(he.Code) + "."
		if m, ok := he.Message.(string); ok && he.Code < 500 && m != http.StatusText(he.Code) {
			msg = m
		}
	}
	if status >= 500 {
		s.deps.Log.Error("request failed", slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path), slog.Any("error", err))
		msg = "Internal error."
	}
	var body = map[string]string{"error": msg, "code": code}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.deps.Log.Warn("write error response", slog.Any("error", err))
	}
}

// bind decodes a JSON body into v, answering a clear 400 on bad input.
func bind(c echo.Context, v any) error {
	if err := (&echo.DefaultBinder{}).BindBody(c, v); err != nil {
		return store.Errorf(store.EINVALID, "The request body is not valid JSON for this endpoint.")
	}
	return nil
}
