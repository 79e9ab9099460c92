// Package nginxproc runs nginx for system tests with a site taken from
// the documentation (Section, Edit): Start wraps the site in what
// /etc/nginx/nginx.conf gives one, with every path in a test's folder,
// and runs it in the foreground until the test ends. Require skips, or
// fails under VILLAGESYNC_REQUIRE_ALL, where nginx is not installed. It
// is imported by tests only.
package nginxproc
