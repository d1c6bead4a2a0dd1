// A stand-in for k3d's tools image (ghcr.io/k3d-io/k3d-tools), which cannot
// be pulled here and whose Go module (github.com/k3d-io/k3d/tools) the module
// proxy refuses. It does the two things k3d asks of that image:
//
//	k3d-tools noop                           stay up until stopped (cluster create)
//	k3d-tools save-image -d TAR IMAGE...     `docker save` the images into TAR (k3d image import)
//
// save-image talks to the engine socket k3d mounts (DOCKER_HOST if set, else
// /var/run/docker.sock): GET /images/get?names=…, the Docker API's `docker save`.
// Standard library only.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: k3d-tools noop | save-image -d TAR IMAGE...")
	}
	switch os.Args[1] {
	case "noop":
		fmt.Println("k3d-tools (stand-in): noop, waiting to be stopped")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
	case "save-image":
		saveImage(os.Args[2:])
	default:
		fail("k3d-tools (stand-in): unknown command " + os.Args[1])
	}
}

func saveImage(args []string) {
	dest := ""
	var images []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-d" || args[i] == "--destination":
			if i+1 >= len(args) {
				fail("save-image: -d needs a path")
			}
			dest = args[i+1]
			i++
		case strings.HasPrefix(args[i], "-d="):
			dest = strings.TrimPrefix(args[i], "-d=")
		default:
			images = append(images, args[i])
		}
	}
	if dest == "" || len(images) == 0 {
		fail("usage: k3d-tools save-image -d TAR IMAGE...")
	}
	socket := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		socket = strings.TrimPrefix(h, "unix://")
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	q := url.Values{}
	for _, img := range images {
		q.Add("names", img)
	}
	resp, err := client.Get("http://engine/images/get?" + q.Encode())
	if err != nil {
		fail(fmt.Sprintf("save-image: the engine at %s: %v", socket, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		fail(fmt.Sprintf("save-image: the engine answered %s: %s", resp.Status, strings.TrimSpace(string(body))))
	}
	tmp := dest + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		fail("save-image: " + err.Error())
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		os.Remove(tmp)
		fail("save-image: " + err.Error())
	}
	fmt.Printf("saved %d image(s) to %s (%d bytes)\n", len(images), dest, n)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}
