// Command gateway-client fetches Wasm modules exactly the way the Higress gateway does: Higress's
// pilot-agent hands every WasmPlugin URL to Istio's local Wasm cache (istio.io/istio/pkg/wasm), which
// asks for gzip, decodes it, retries, checks the sha256 of the decoded bytes and the Wasm magic number.
// Using that code (not our own client) is what makes "the gateway gets the right bytes" a real check.
//
// Usage:
//
//	gateway-client [flags] URL [URL...]   (one URL may carry -sha256)
//	gateway-client [flags] -from FILE     (lines "URL [SHA256]"; "-" reads stdin)
//
// It prints one JSON line per fetch on stdout: {"url","sha256","ok","error","bytes","seconds"}.
// Exit codes: 0 every fetch passed, 1 at least one fetch failed, 2 bad usage.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"istio.io/istio/pkg/util/sets"
	"istio.io/istio/pkg/wasm"
)

// fetchRequest is one URL and the sha256 the WasmPlugin would carry (empty: no check, like sha256 unset).
type fetchRequest struct {
	URL    string
	SHA256 string
}

// fetchResult is the JSON line printed for each fetch; benches read "seconds", tests read "ok"/"error".
type fetchResult struct {
	URL     string  `json:"url"`
	SHA256  string  `json:"sha256,omitempty"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("gateway-client", flag.ContinueOnError)
	flags.SetOutput(stderr)
	sha := flags.String("sha256", "", "expected sha256 (hex) of the decoded module; only with a single URL")
	from := flags.String("from", "", `file with one "URL [SHA256]" per line ("-" reads stdin)`)
	// pilot-agent's defaults (wasm.DefaultHTTPRequestTimeout, wasm.DefaultHTTPRequestMaxRetries).
	requestTimeout := flags.Duration("request-timeout", wasm.DefaultHTTPRequestTimeout, "timeout of one HTTP request")
	retries := flags.Int("retries", wasm.DefaultHTTPRequestMaxRetries, "HTTP attempts per fetch")
	// istiod sets the WasmPlugin fetch timeout to 30 s (buildDataSource in pilot/pkg/model/extensions.go).
	fetchTimeout := flags.Duration("fetch-timeout", 30*time.Second, "timeout of one whole fetch (all attempts)")
	insecure := flags.String("insecure-registries", "", "comma-separated hosts (or *) allowed over plain HTTP / unverified TLS, as pilot-agent's WASM_INSECURE_REGISTRIES")
	cacheDir := flags.String("cache-dir", "", "module cache folder (default: a temporary folder removed on exit)")
	if err := flags.Parse(args); err != nil {
		return 2
	}

	requests, err := collectRequests(flags.Args(), *sha, *from)
	if err != nil {
		fmt.Fprintf(stderr, "gateway-client: %v\n", err)
		return 2
	}

	dir := *cacheDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gateway-client-")
		if err != nil {
			fmt.Fprintf(stderr, "gateway-client: cannot create a cache folder: %v\n", err)
			return 2
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	insecureHosts := sets.New[string]()
	for _, host := range strings.Split(*insecure, ",") {
		if host = strings.TrimSpace(host); host != "" {
			insecureHosts.Insert(host)
		}
	}
	options := wasm.Options{
		InsecureRegistries:    insecureHosts,
		HTTPRequestTimeout:    *requestTimeout,
		HTTPRequestMaxRetries: *retries,
	}

	encoder := json.NewEncoder(stdout)
	failed := false
	for _, req := range requests {
		result := fetch(dir, options, req, *fetchTimeout)
		failed = failed || !result.OK
		if err := encoder.Encode(result); err != nil {
			fmt.Fprintf(stderr, "gateway-client: cannot write the result: %v\n", err)
			return 2
		}
	}
	if failed {
		return 1
	}
	return 0
}

func collectRequests(urls []string, sha, from string) ([]fetchRequest, error) {
	if from != "" && len(urls) > 0 {
		return nil, fmt.Errorf("give URLs as arguments or -from, not both")
	}
	if from == "" {
		if len(urls) == 0 {
			return nil, fmt.Errorf("no URL given: pass URLs as arguments or -from FILE")
		}
		if sha != "" && len(urls) > 1 {
			return nil, fmt.Errorf("-sha256 applies to a single URL; use -from for several URLs with their sha256")
		}
		requests := make([]fetchRequest, 0, len(urls))
		for _, u := range urls {
			requests = append(requests, fetchRequest{URL: u, SHA256: sha})
		}
		return requests, nil
	}
	if sha != "" {
		return nil, fmt.Errorf("-sha256 cannot be combined with -from; put the sha256 after each URL")
	}
	in := os.Stdin
	if from != "-" {
		f, err := os.Open(from)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	var requests []fetchRequest
	scanner := bufio.NewScanner(in)
	for line := 1; scanner.Scan(); line++ {
		fields := strings.Fields(scanner.Text())
		switch {
		case len(fields) == 0 || strings.HasPrefix(fields[0], "#"):
			continue
		case len(fields) > 2:
			return nil, fmt.Errorf("%s:%d: expected \"URL [SHA256]\", got %d fields", from, line, len(fields))
		}
		req := fetchRequest{URL: fields[0]}
		if len(fields) == 2 {
			req.SHA256 = fields[1]
		}
		requests = append(requests, req)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(requests) == 0 {
		return nil, fmt.Errorf("%s: no URL in it", from)
	}
	return requests, nil
}

// fetch gives every request a fresh, empty Wasm cache, as a newly started gateway pod has: the module
// always comes from the server (a shared cache would answer a repeated URL+sha256 from disk).
func fetch(baseDir string, options wasm.Options, req fetchRequest, timeout time.Duration) fetchResult {
	result := fetchResult{URL: req.URL, SHA256: req.SHA256}
	dir, err := os.MkdirTemp(baseDir, "fetch-")
	if err != nil {
		result.Error = fmt.Sprintf("cannot create a cache folder: %v", err)
		return result
	}
	defer os.RemoveAll(dir)
	cache := wasm.NewLocalFileCache(dir, options)
	defer cache.Cleanup()

	start := time.Now()
	path, err := cache.Get(req.URL, wasm.GetOptions{
		Checksum:       req.SHA256,
		ResourceName:   "gateway-client",
		RequestTimeout: timeout,
	})
	result.Seconds = time.Since(start).Seconds()
	if err != nil {
		result.Error = err.Error()
		return result
	}
	info, err := os.Stat(path)
	if err != nil {
		result.Error = fmt.Sprintf("module fetched but not readable in the cache: %v", err)
		return result
	}
	result.OK = true
	result.Bytes = info.Size()
	return result
}
