// A minimal OpenID Connect issuer for the contract tier: the discovery
// document and a JWKS with one RSA key; for an https issuer over TLS with a
// certificate from a private CA (the one the chart's auth.oidc.caConfigMap
// hands the gateway).
//   node oidc-issuer.ts <issuer-url> [<cert.pem> <key.pem>]
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';

const [issuer, cert, key] = process.argv.slice(2) as [string, string?, string?];
const url = new URL(issuer);
const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
const jwksPath = `${url.pathname.replace(/\/$/, '')}/protocol/openid-connect/certs`;
const handle = (req: IncomingMessage, res: ServerResponse) => {
  const path = new URL(req.url ?? '/', issuer).pathname;
  res.setHeader('content-type', 'application/json');
  if (path === `${url.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`) {
    res.end(JSON.stringify({ issuer, jwks_uri: `${url.origin}${jwksPath}` }));
  } else if (path === jwksPath) {
    res.end(JSON.stringify({ keys: [{ ...jwk, kid: 'contract', use: 'sig', alg: 'RS256' }] }));
  } else {
    res.statusCode = 404;
    res.end('{}');
  }
};
const server = url.protocol === 'https:' ? createServer({ cert: readFileSync(cert as string), key: readFileSync(key as string) }, handle) : createHttpServer(handle);
server.listen(Number(url.port || (url.protocol === 'https:' ? 443 : 80)), '127.0.0.1', () => console.log(`issuer ${issuer} ready`));
