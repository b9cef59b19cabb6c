// promlint: `promtool check metrics` without the rest of Prometheus. Reads a text exposition on stdin
// and lints it with the same linter promtool runs (client_golang's testutil/promlint): prints one line
// per problem on stderr and exits 3 (promtool's lint exit code) when there is one, 1 when the input
// cannot be parsed, 0 when it is clean. Built by scripts/install-test-tools.sh into .tools/bin; the
// tests check /metrics of image/nginx.conf with it (test/image-metrics.test.ts).
package main

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "check" || os.Args[2] != "metrics" {
		fmt.Fprintln(os.Stderr, "usage: promlint check metrics < exposition.txt")
		os.Exit(2)
	}
	problems, err := promlint.New(os.Stdin).Lint()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error while linting:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p.Metric, p.Text)
	}
	if len(problems) > 0 {
		os.Exit(3)
	}
}
