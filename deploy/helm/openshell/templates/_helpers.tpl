{{/* Names ------------------------------------------------------------------ */}}

{{- define "openshell.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "openshell.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The gateway workload, its Services and its ConfigMap share this name. */}}
{{- define "openshell.gateway.fullname" -}}
{{- printf "%s-gateway" (include "openshell.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "openshell.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "openshell.labels" -}}
helm.sh/chart: {{ include "openshell.chart" . }}
app.kubernetes.io/name: {{ include "openshell.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: openshell
{{- end }}

{{/* Gateway pods: the selector never changes between releases. */}}
{{- define "openshell.gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "openshell.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "openshell.gateway.labels" -}}
{{ include "openshell.labels" . }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "openshell.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "openshell.gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "openshell.sandboxServiceAccountName" -}}
{{- if .Values.sandboxServiceAccount.create }}
{{- default (printf "%s-sandbox" (include "openshell.fullname" .)) .Values.sandboxServiceAccount.name }}
{{- else }}
{{- default "default" .Values.sandboxServiceAccount.name }}
{{- end }}
{{- end }}

{{- define "openshell.sandboxNamespace" -}}
{{- default .Release.Namespace .Values.sandbox.namespace }}
{{- end }}

{{/* Workload kind: SQLite needs stable storage (StatefulSet); an external database allows a Deployment. */}}
{{- define "openshell.gateway.kind" -}}
{{- if .Values.database.external.enabled }}Deployment{{ else }}StatefulSet{{ end }}
{{- end }}

{{/* Images -------------------------------------------------------------------- */}}

{{- define "openshell.imageRef" -}}
{{- $img := index . 0 -}}
{{- $root := index . 1 -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default $root.Chart.AppVersion ($img.tag | toString)) -}}
{{- end -}}
{{- end }}

{{- define "openshell.gateway.image" -}}
{{- include "openshell.imageRef" (list .Values.image .) -}}
{{- end }}

{{- define "openshell.supervisor.image" -}}
{{- include "openshell.imageRef" (list .Values.supervisor.image .) -}}
{{- end }}

{{/*
Supervisor sideload method: the ONE place the auto rule lives.
  explicit value             -> that value
  "" and Kubernetes >= 1.35  -> image-volume (image volumes are on by default)
  "" and Kubernetes <  1.35  -> init-container (copy into an emptyDir)
scripts/lib (TypeScript) carries the same rule; test/chart compares both for 1.29..1.36.
*/}}
{{- define "openshell.supervisor.sideloadMethod" -}}
{{- if .Values.supervisor.sideloadMethod -}}
{{- .Values.supervisor.sideloadMethod -}}
{{- else if semverCompare ">=1.35.0-0" .Capabilities.KubeVersion.Version -}}
image-volume
{{- else -}}
init-container
{{- end -}}
{{- end }}

{{/* The in-cluster address sandbox supervisors dial back to (driver `grpc_endpoint`): https unless TLS is off. */}}
{{- define "openshell.gateway.grpcEndpoint" -}}
{{- printf "%s://%s.%s.svc:%v" (ternary "http" "https" .Values.disableTls) (include "openshell.gateway.fullname" .) .Release.Namespace .Values.service.ports.grpc -}}
{{- end }}

{{/* Per-release identity in sandbox JWTs and on Sandbox labels (gateway_jwt.gateway_id, driver gateway_id). */}}
{{- define "openshell.gatewayId" -}}
{{- default (printf "%s-%s" .Release.Namespace (include "openshell.fullname" .) | trunc 63 | trimSuffix "-") .Values.auth.sandboxJwt.gatewayId -}}
{{- end }}

{{/* Secrets the certificate hook (or cert-manager, or the operator) provides. */}}
{{- define "openshell.tls.serverSecretName" -}}
{{- default (printf "%s-tls-server" (include "openshell.fullname" .)) .Values.tls.serverSecretName -}}
{{- end }}
{{- define "openshell.tls.clientSecretName" -}}
{{- default (printf "%s-tls-client" (include "openshell.fullname" .)) .Values.tls.clientSecretName -}}
{{- end }}
{{- define "openshell.jwtSecretName" -}}
{{- printf "%s-sandbox-jwt" (include "openshell.fullname" .) -}}
{{- end }}
{{- define "openshell.kekSecretName" -}}
{{- default (printf "%s-credential-kek" (include "openshell.fullname" .)) .Values.credentialStorage.existingSecret -}}
{{- end }}

{{/* DNS names of the gateway Service, put on the generated server certificate. */}}
{{- define "openshell.tls.serviceSans" -}}
{{- $svc := include "openshell.gateway.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson -}}
{{- end }}

{{/* TOML helpers -------------------------------------------------------------- */}}

{{/* A TOML array of strings from a list. */}}
{{- define "openshell.toml.strings" -}}
[{{- range $i, $v := . }}{{ if $i }}, {{ end }}{{ $v | toString | toJson }}{{- end }}]
{{- end }}

{{/* Validation ---------------------------------------------------------------- */}}

{{/*
Every render passes through here (the workload template includes it). Each
failure is one sentence saying what is wrong and what to set.
*/}}
{{- define "openshell.validateValues" -}}
{{- include "openshell.validateSecurityValues" . }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.database.external.enabled) }}
{{- fail (printf "\n\nreplicaCount=%d needs an external database: the default SQLite file lives on a single pod's volume. Set database.external.enabled=true and database.external.secretName to a Secret holding a PostgreSQL URI (key %q), or set replicaCount=1." (int .Values.replicaCount) .Values.database.external.secretKey) }}
{{- end }}
{{- if and .Values.database.external.enabled (not .Values.database.external.secretName) }}
{{- fail "\n\ndatabase.external.enabled=true needs database.external.secretName: the name of a Secret in the release namespace whose key database.external.secretKey (default \"uri\") holds postgresql://user:password@host:5432/openshell." }}
{{- end }}
{{- if and .Values.auth.oidc.enabled (or (not .Values.auth.oidc.issuer) (not .Values.auth.oidc.audience)) }}
{{- fail "\n\nauth.oidc.enabled=true needs auth.oidc.issuer (e.g. https://keycloak.example.com/realms/openshell) and auth.oidc.audience (the client the tokens are issued for)." }}
{{- end }}
{{- if and .Values.auth.oidc.enabled .Values.auth.allowUnauthenticated }}
{{- fail "\n\nauth.allowUnauthenticated=true and auth.oidc.enabled=true contradict each other: unauthenticated access is for development only; set auth.allowUnauthenticated=false to require OIDC tokens." }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (gt (int .Values.replicaCount) 0) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- fail (printf "\n\npodDisruptionBudget.minAvailable=%v with replicaCount=%d would block every node drain: set podDisruptionBudget.minAvailable below replicaCount, or null to use podDisruptionBudget.maxUnavailable." .Values.podDisruptionBudget.minAvailable (int .Values.replicaCount)) }}
{{- end }}
{{- $gw := .Values.ingress.gatewayAPI }}
{{- if $gw.enabled }}
{{- if and (not $gw.createGateway) (not $gw.parentRefs) }}
{{- fail "\n\ningress.gatewayAPI.enabled=true needs somewhere to attach the GRPCRoute: set ingress.gatewayAPI.parentRefs to an existing Gateway, or ingress.gatewayAPI.createGateway=true with ingress.gatewayAPI.gatewayClassName." }}
{{- end }}
{{- if and $gw.createGateway (not $gw.gatewayClassName) }}
{{- fail "\n\ningress.gatewayAPI.createGateway=true needs ingress.gatewayAPI.gatewayClassName (kubectl get gatewayclass lists them)." }}
{{- end }}
{{- if and $gw.createGateway (not $gw.tls.secretName) }}
{{- fail "\n\ningress.gatewayAPI.createGateway=true needs ingress.gatewayAPI.tls.secretName: the kubernetes.io/tls Secret of the HTTPS listener (existing, or the one cert-manager writes when tls.source=certManager)." }}
{{- end }}
{{- if and $gw.createGateway (eq $gw.tls.source "certManager") (not $gw.tls.certManager.issuerName) }}
{{- fail "\n\ningress.gatewayAPI.tls.source=certManager needs ingress.gatewayAPI.tls.certManager.issuerName (and issuerKind if it is not a ClusterIssuer)." }}
{{- end }}
{{- if and $gw.createGateway (eq $gw.tls.source "certManager") (not $gw.hostnames) }}
{{- fail "\n\ningress.gatewayAPI.tls.source=certManager needs ingress.gatewayAPI.hostnames: the certificate's DNS names." }}
{{- end }}
{{- end }}
{{- if and .Values.sandbox.createNamespace (eq (include "openshell.sandboxNamespace" .) .Release.Namespace) }}
{{- fail "\n\nsandbox.createNamespace=true needs sandbox.namespace set to a namespace other than the release namespace (Helm already manages the release namespace)." }}
{{- end }}
{{- if and (not .Values.disableTls) (ne .Values.tls.source "existing") (ne (include "openshell.sandboxNamespace" .) .Release.Namespace) }}
{{- fail (printf "\n\nsandbox.namespace=%s differs from the release namespace and TLS is on: sandbox pods mount the client certificate Secret from their own namespace, but tls.source=%s writes it into %s. Set tls.source=existing and create the Secrets yourself (server Secret in %s, client Secret in %s), or leave sandbox.namespace empty." (include "openshell.sandboxNamespace" .) .Values.tls.source .Release.Namespace .Release.Namespace (include "openshell.sandboxNamespace" .)) }}
{{- end }}
{{- if and .Values.ingress.gatewayAPI.enabled (not .Values.disableTls) }}
{{- fail "\n\ningress.gatewayAPI.enabled=true needs disableTls=true: the GRPCRoute sends plaintext HTTP/2 (h2c) to the gateway, which would be speaking TLS. The Gateway's listener terminates TLS instead." }}
{{- end }}
{{- if and .Values.auth.oidc.enabled .Values.auth.oidc.caConfigMap (not .Values.auth.oidc.issuer) }}
{{- fail "\n\nauth.oidc.caConfigMap needs auth.oidc.issuer." }}
{{- end }}
{{- /* Last: value mistakes are reported even when rendering offline. */}}
{{- if and .Values.preflight.agentSandbox.enabled (not (or (.Capabilities.APIVersions.Has "agents.x-k8s.io/v1beta1") (.Capabilities.APIVersions.Has "agents.x-k8s.io/v1alpha1"))) }}
{{- fail "\n\nThe agent-sandbox API is not served by this cluster (neither agents.x-k8s.io/v1beta1 nor agents.x-k8s.io/v1alpha1), and the gateway exits at start without it: install the agent-sandbox CRDs and controller first (mise run k8s:dev:bootstrap does it for the dev cluster), or set preflight.agentSandbox.enabled=false; for offline `helm template` pass --api-versions agents.x-k8s.io/v1beta1." }}
{{- end }}
{{- end }}

{{/* Capability gates ------------------------------------------------------------ */}}

{{- define "openshell.gatewayAPI.render" -}}
{{- $gw := .Values.ingress.gatewayAPI -}}
{{- if and $gw.enabled (or $gw.force (.Capabilities.APIVersions.Has "gateway.networking.k8s.io/v1/GRPCRoute")) -}}
true
{{- end -}}
{{- end }}

{{- define "openshell.serviceMonitor.render" -}}
{{- $sm := .Values.metrics.serviceMonitor -}}
{{- if and .Values.metrics.enabled $sm.enabled (or $sm.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) -}}
true
{{- end -}}
{{- end }}
