// CoreDNS with the plugins k3s's own Corefile uses, and no others: the real
// CoreDNS server (coremain) and plugins, built from the module
// github.com/coredns/coredns without the cloud back ends (route53, azure,
// clouddns, …) that would triple the build. Directive order is CoreDNS's own
// (plugin.cfg), filtered to the plugins imported here.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

var keep = map[string]bool{
	"reload": true, "ready": true, "health": true, "prometheus": true, "errors": true, "log": true,
	"loadbalance": true, "cache": true, "hosts": true, "kubernetes": true, "loop": true, "forward": true,
}

func init() {
	var d []string
	for _, name := range dnsserver.Directives {
		if keep[name] {
			d = append(d, name)
		}
	}
	dnsserver.Directives = d
}

func main() { coremain.Run() }
