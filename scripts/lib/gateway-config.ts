// The out-of-cluster gateway's config file, written the way OpenShell's own dev
// gateway writes it (tasks/scripts/gateway.sh upstream): TLS off, anonymous
// users allowed, sandbox JWTs signed with keys from `generate-certs`, and the
// Kubernetes driver's table. Every key is one the gateway reads
// (openshell-server's config_file.rs, the driver's config.rs); the contract
// tier and test/e2e/gateway.test.ts run the real gateway on this file.
import { join } from 'node:path';
import type { SideloadMethod } from './settings.ts';

export interface DevGatewayConfig {
  /** generate-certs --output-dir: holds jwt/signing.pem, jwt/public.pem, jwt/kid. */
  certsDir: string;
  gatewayId: string;
  sandboxNamespace: string;
  /** Image of sandboxes that name none. */
  defaultImage: string;
  /** Where sandbox pods reach this gateway. */
  grpcEndpoint: string;
  supervisorImage: string;
  sideloadMethod: SideloadMethod;
}

const str = (v: string) => JSON.stringify(v); // a TOML basic string is a JSON string for these values

export function devGatewayToml(c: DevGatewayConfig): string {
  const jwt = join(c.certsDir, 'jwt');
  return [
    '# Written by mise run k8s:dev:gateway; rewritten on every run.',
    '[openshell]',
    'version = 1',
    '',
    '[openshell.gateway]',
    'compute_drivers = ["kubernetes"]',
    `default_image = ${str(c.defaultImage)}`,
    'disable_tls = true',
    '',
    '[openshell.gateway.auth]',
    'allow_unauthenticated_users = true',
    '',
    '[openshell.gateway.gateway_jwt]',
    `signing_key_path = ${str(join(jwt, 'signing.pem'))}`,
    `public_key_path = ${str(join(jwt, 'public.pem'))}`,
    `kid_path = ${str(join(jwt, 'kid'))}`,
    `gateway_id = ${str(c.gatewayId)}`,
    'ttl_secs = 3600',
    '',
    '[openshell.drivers.kubernetes]',
    `namespace = ${str(c.sandboxNamespace)}`,
    `gateway_id = ${str(c.gatewayId)}`,
    `grpc_endpoint = ${str(c.grpcEndpoint)}`,
    `supervisor_image = ${str(c.supervisorImage)}`,
    // :dev is re-pushed by every sync: each new sandbox pod gets the newest.
    'supervisor_image_pull_policy = "Always"',
    `supervisor_sideload_method = ${str(c.sideloadMethod)}`,
    '',
  ].join('\n');
}
