{{/*
TLS extras, credential drivers, workspace modes, supervisor topology, the
corporate proxy and SPIFFE token grants: their gateway.toml fragments, the
gateway pod's extra volumes, and their value checks. Every key is one the
gateway reads: [openshell.gateway] and [openshell.gateway.tls] from
config_file.rs / openshell-core TlsConfig, [openshell.drivers.kubernetes]
from the Kubernetes driver's config.rs, [openshell.credential_drivers.*]
from the kubernetes-secrets and vault driver crates (all deny unknown keys).
*/}}

{{- define "openshell.credentialSecretsNamespace" -}}
{{- default .Release.Namespace .Values.credentialDrivers.kubernetesSecrets.namespace -}}
{{- end }}

{{- define "openshell.workspaceNamespacesConfigMap" -}}
{{- printf "%s-workspace-namespaces" (include "openshell.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* [openshell.gateway] keys: which credential driver (omitted: the encrypted database store). */}}
{{- define "openshell.toml.gatewaySecurity" -}}
{{- with .Values.credentialDrivers.driver }}
credential_drivers = [{{ . | quote }}]
{{- end }}
{{- end }}

{{/* [openshell.gateway.tls] keys beyond the server certificate. */}}
{{- define "openshell.toml.tlsSecurity" -}}
{{- if .Values.tls.verifyClientCerts }}
client_ca_path = {{ ternary "/etc/openshell-tls/client-ca/ca.crt" "/etc/openshell-tls/server/ca.crt" (ne .Values.tls.clientCaSecretName "") | quote }}
{{- end }}
{{- if .Values.tls.external.secretName }}
external_cert_path = "/etc/openshell-tls/external/tls.crt"
external_key_path = "/etc/openshell-tls/external/tls.key"
external_server_names = {{ include "openshell.toml.strings" .Values.tls.external.serverNames }}
{{- end }}
{{- end }}

{{/*
The end of [openshell.drivers.kubernetes]: plain keys first, then its
sub-tables, then the credential driver tables. Include it LAST in the
ConfigMap: it opens tables, so no plain driver key may follow it.
*/}}
{{- define "openshell.toml.kubernetesSecurity" -}}
{{- $w := .Values.workspaces -}}
workspace_mode = {{ $w.mode | quote }}
{{- if eq $w.mode "operator" }}
{{- if $w.operator.namespaceLabel }}
operator_namespace_label = {{ $w.operator.namespaceLabel | quote }}
{{- else }}
operator_namespace_file = "/etc/openshell-workspaces/namespaces.json"
{{- end }}
{{- end }}
topology = {{ .Values.supervisor.topology | quote }}
{{- with .Values.upstreamProxy }}
{{- if .url }}
https_proxy = {{ .url | quote }}
{{- if .noProxy }}
no_proxy = {{ .noProxy | quote }}
{{- end }}
{{- if .authSecret.name }}
proxy_auth_secret_name = {{ .authSecret.name | quote }}
proxy_auth_secret_key = {{ .authSecret.key | quote }}
proxy_auth_allow_insecure = {{ .authAllowInsecure }}
{{- end }}
{{- if .connectByHostname }}
proxy_connect_by_hostname = true
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.providerTokenGrants.spiffe.enabled }}
provider_spiffe_workload_api_socket_path = {{ .Values.providerTokenGrants.spiffe.workloadApiSocketPath | quote }}
{{- end }}

[openshell.drivers.kubernetes.sidecar]
proxy_uid = {{ int .Values.supervisor.sidecar.proxyUid }}
process_binary_aware_network_policy = {{ .Values.supervisor.sidecar.processBinaryAwareNetworkPolicy }}
{{- if eq $w.mode "managed" }}

[openshell.drivers.kubernetes.managed_ssh_ingress]
enabled = {{ $w.managed.sshIngressPolicy }}
gateway_namespace = {{ .Release.Namespace | quote }}
{{- $sel := include "openshell.gateway.selectorLabels" . | fromYaml }}
gateway_pod_selector = { {{ range $i, $k := keys $sel | sortAlpha }}{{ if $i }}, {{ end }}{{ $k | quote }} = {{ index $sel $k | quote }}{{ end }} }
{{- end }}
{{- if eq .Values.credentialDrivers.driver "kubernetes-secrets" }}

[openshell.credential_drivers.kubernetes-secrets]
namespace = {{ include "openshell.credentialSecretsNamespace" . | quote }}
workspace_mode = {{ $w.mode | quote }}
gateway_id = {{ include "openshell.gatewayId" . | quote }}
{{- end }}
{{- if eq .Values.credentialDrivers.driver "vault" }}
{{- with .Values.credentialDrivers.vault }}

[openshell.credential_drivers.vault]
address = {{ .address | quote }}
mount = {{ .mount | quote }}
kv_version = {{ .kvVersion | toString | quote }}
auth_method = {{ .authMethod | quote }}
{{- if eq .authMethod "kubernetes" }}
role = {{ .role | quote }}
kubernetes_auth_mount = {{ .kubernetesAuthMount | quote }}
service_account_token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
{{- else }}
token_path = "/etc/openshell-vault/token"
{{- end }}
{{- if gt (int .timeoutSeconds) 0 }}
timeout_secs = {{ int .timeoutSeconds }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Gateway container mounts for the above. */}}
{{- define "openshell.security.volumeMounts" -}}
{{- if and (not .Values.disableTls) .Values.tls.verifyClientCerts .Values.tls.clientCaSecretName }}
- name: client-ca
  mountPath: /etc/openshell-tls/client-ca
  readOnly: true
{{- end }}
{{- if and (not .Values.disableTls) .Values.tls.external.secretName }}
- name: external-tls
  mountPath: /etc/openshell-tls/external
  readOnly: true
{{- end }}
{{- if and (eq .Values.workspaces.mode "operator") (not .Values.workspaces.operator.namespaceLabel) }}
- name: workspace-namespaces
  mountPath: /etc/openshell-workspaces
  readOnly: true
{{- end }}
{{- if and (eq .Values.credentialDrivers.driver "vault") (eq .Values.credentialDrivers.vault.authMethod "token_file") }}
- name: vault-token
  mountPath: /etc/openshell-vault
  readOnly: true
{{- end }}
{{- end }}

{{- define "openshell.security.volumes" -}}
{{- if and (not .Values.disableTls) .Values.tls.verifyClientCerts .Values.tls.clientCaSecretName }}
- name: client-ca
  secret:
    secretName: {{ .Values.tls.clientCaSecretName | quote }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- if and (not .Values.disableTls) .Values.tls.external.secretName }}
- name: external-tls
  secret:
    secretName: {{ .Values.tls.external.secretName | quote }}
    defaultMode: 256 # 0400
{{- end }}
{{- if and (eq .Values.workspaces.mode "operator") (not .Values.workspaces.operator.namespaceLabel) }}
- name: workspace-namespaces
  configMap:
    name: {{ include "openshell.workspaceNamespacesConfigMap" . }}
{{- end }}
{{- if and (eq .Values.credentialDrivers.driver "vault") (eq .Values.credentialDrivers.vault.authMethod "token_file") }}
- name: vault-token
  secret:
    secretName: {{ .Values.credentialDrivers.vault.tokenSecret.name | quote }}
    defaultMode: 256 # 0400
    items:
      - key: {{ .Values.credentialDrivers.vault.tokenSecret.key | quote }}
        path: token
{{- end }}
{{- end }}

{{/* Sandbox egress rule to the corporate proxy (templates/networkpolicy.yaml). */}}
{{- define "openshell.networkPolicy.proxyEgress" -}}
{{- with .Values.upstreamProxy }}
{{- if and .url .networkPolicyTo }}
{{- $port := regexFind ":[0-9]+" (trimPrefix "http://" .url) | trimPrefix ":" | default "80" }}
# The corporate proxy (upstreamProxy.networkPolicyTo).
- to:
    {{- toYaml .networkPolicyTo | nindent 4 }}
  ports:
    - port: {{ int $port }}
      protocol: TCP
{{- end }}
{{- end }}
{{- end }}

{{/* Value checks: one sentence each, naming the setting and what to set. */}}
{{- define "openshell.validateSecurityValues" -}}
{{- $cd := .Values.credentialDrivers -}}
{{- if and (eq $cd.driver "vault") (not $cd.vault.address) }}
{{- fail "\n\ncredentialDrivers.driver=vault needs credentialDrivers.vault.address, e.g. http://vault.vault.svc:8200." }}
{{- end }}
{{- if and (eq $cd.driver "vault") (eq $cd.vault.authMethod "kubernetes") (not $cd.vault.role) }}
{{- fail "\n\ncredentialDrivers.vault.authMethod=kubernetes needs credentialDrivers.vault.role: the Vault Kubernetes auth role bound to the gateway's ServiceAccount." }}
{{- end }}
{{- if and (eq $cd.driver "vault") (eq $cd.vault.authMethod "token_file") (not $cd.vault.tokenSecret.name) }}
{{- fail "\n\ncredentialDrivers.vault.authMethod=token_file needs credentialDrivers.vault.tokenSecret.name: a Secret in the release namespace holding the Vault token (key credentialDrivers.vault.tokenSecret.key)." }}
{{- end }}
{{- $w := .Values.workspaces -}}
{{- if and (eq $w.mode "operator") (not $w.operator.namespaceLabel) (not $w.operator.namespaces) }}
{{- fail "\n\nworkspaces.mode=operator needs workspaces.operator.namespaceLabel (a label selector, e.g. openshell.ai/workspace=true) or workspaces.operator.namespaces (a list of namespace names)." }}
{{- end }}
{{- if and (eq $w.mode "operator") $w.operator.namespaceLabel $w.operator.namespaces }}
{{- fail "\n\nworkspaces.operator.namespaceLabel and workspaces.operator.namespaces are both set: the gateway takes exactly one; keep one of them." }}
{{- end }}
{{- if and (eq $w.mode "managed") (gt (len (include "openshell.gatewayId" .)) 33) }}
{{- fail (printf "\n\nworkspaces.mode=managed names namespaces openshell-<gatewayId>-<workspace> (63 characters at most, workspaces up to 19), so the gateway id may have 33 characters; %q has %d. Set auth.sandboxJwt.gatewayId to a shorter DNS label." (include "openshell.gatewayId" .) (len (include "openshell.gatewayId" .))) }}
{{- end }}
{{- $p := .Values.upstreamProxy -}}
{{- if and $p.url (not (regexMatch "^http://[^/@]+(:[0-9]+)?/?$" $p.url)) }}
{{- fail (printf "\n\nupstreamProxy.url=%q: the gateway takes an http://host:port proxy URL only (no https://, no credentials in the URL: use upstreamProxy.authSecret)." $p.url) }}
{{- end }}
{{- if and (not $p.url) (or $p.noProxy $p.authSecret.name $p.connectByHostname $p.networkPolicyTo) }}
{{- fail "\n\nupstreamProxy.noProxy, upstreamProxy.authSecret, upstreamProxy.connectByHostname and upstreamProxy.networkPolicyTo need upstreamProxy.url." }}
{{- end }}
{{- if and $p.authSecret.name (not $p.authSecret.key) }}
{{- fail "\n\nupstreamProxy.authSecret.name needs upstreamProxy.authSecret.key: the key in that Secret holding user:pass." }}
{{- end }}
{{- if and $p.authSecret.name (not $p.authAllowInsecure) }}
{{- fail "\n\nupstreamProxy.authSecret sends the proxy credential as cleartext Basic auth to the http:// proxy: set upstreamProxy.authAllowInsecure=true to accept that, or remove upstreamProxy.authSecret." }}
{{- end }}
{{- if and $p.authSecret.name (ne .Values.supervisor.topology "sidecar") }}
{{- fail "\n\nupstreamProxy.authSecret needs supervisor.topology=sidecar: in combined topology the credential would be mounted where the sandbox's own processes can read it." }}
{{- end }}
{{- if and .Values.tls.external.secretName (not .Values.tls.external.serverNames) }}
{{- fail "\n\ntls.external.secretName needs tls.external.serverNames: the SNI hostnames that get the external certificate." }}
{{- end }}
{{- if and .Values.tls.external.certManager.issuerName (ne .Values.tls.source "certManager") }}
{{- fail "\n\ntls.external.certManager.issuerName needs tls.source=certManager (otherwise nothing asks cert-manager for the certificate); with other sources, provide tls.external.secretName yourself." }}
{{- end }}
{{- if and .Values.tls.external.certManager.issuerName (not .Values.tls.external.secretName) }}
{{- fail "\n\ntls.external.certManager.issuerName needs tls.external.secretName: the Secret cert-manager writes the external certificate into." }}
{{- end }}
{{- if .Values.tls.external.certManager.issuerName }}
{{- range .Values.tls.external.serverNames }}
{{- if or (eq . "localhost") (hasSuffix ".localhost" .) (hasSuffix ".svc" .) (hasSuffix ".svc.cluster.local" .) (hasSuffix ".internal" .) }}
{{- fail (printf "\n\ntls.external.serverNames contains %q, an internal name a public CA (ACME) refuses to certify: list only the external hostnames; in-cluster clients use the internal certificate." .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
