package console

import "net/http"

// consoleUI is the console's handler. TEMPORARY: until i12-web lands.
func consoleUI() http.Handler { return http.NotFoundHandler() }
