// Command villagesync is the server, the device tool and the staff tool of
// villagesync. It only parses flags and wires packages together.
package main
