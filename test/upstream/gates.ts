// Upstream tests that, under this run's settings (OPENSHELL_E2E_DRIVER=kubernetes,
// no fixture modes), return before doing anything and print nothing, so libtest
// reports them "ok". Read from their source; the reason names upstream's gate.
// (Tests that print "Skipping ..." first are found in their output instead.)
export const SILENT_GATES: Record<string, string> = {
  rootless_podman_musl_getaddrinfo_uses_udp_policy_dns: 'returns unless OPENSHELL_E2E_DRIVER=podman (transparent_tcp.rs), silently',
  local_container_native_tcp_uses_policy_dns_and_fails_closed: 'returns unless OPENSHELL_E2E_DRIVER is docker or podman (transparent_tcp.rs), silently',
};
