package console

import (
	"net/http"

	"github.com/futian-xiaomo/villagesync/clients/web"
)

// consoleUI is the console as the server serves it.
func consoleUI() http.Handler { return web.Handler() }
