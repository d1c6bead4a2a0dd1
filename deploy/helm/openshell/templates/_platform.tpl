{{/* Platform: workload kind, OpenShift, autoscaling ---------------------------- */}}

{{/*
Workload kind: SQLite needs one pod with stable storage (StatefulSet); an
external database allows a Deployment. `workload.kind` pins it; the guards in
openshell.validatePlatform refuse a pin that cannot work.
*/}}
{{- define "openshell.gateway.kind" -}}
{{- if .Values.workload.kind }}{{ .Values.workload.kind }}
{{- else if .Values.database.external.enabled }}Deployment
{{- else }}StatefulSet
{{- end }}
{{- end }}

{{/*
"true" when the chart renders for OpenShift: asked for (openshift.enabled=true),
or detected (auto) from an API group only OpenShift serves. `helm template`
detects it from `--api-versions route.openshift.io/v1` (or security.openshift.io/v1).
*/}}
{{- define "openshell.openshift" -}}
{{- $mode := .Values.openshift.enabled -}}
{{- if eq (toString $mode) "true" -}}
true
{{- else if and (eq (toString $mode) "auto") (or (.Capabilities.APIVersions.Has "route.openshift.io/v1") (.Capabilities.APIVersions.Has "security.openshift.io/v1")) -}}
true
{{- end -}}
{{- end }}

{{/*
Security contexts for every pod the chart makes (gateway and hooks). On
OpenShift the restricted-v2 SCC assigns the UID, the GID and fsGroup from the
namespace's range and refuses pods that fix others, so they are left out.
*/}}
{{- define "openshell.podSecurityContext" -}}
{{- $sc := deepCopy .Values.gateway.podSecurityContext -}}
{{- if include "openshell.openshift" . -}}
{{- $sc = omit $sc "runAsUser" "runAsGroup" "fsGroup" -}}
{{- end -}}
{{- toYaml $sc -}}
{{- end }}

{{- define "openshell.containerSecurityContext" -}}
{{- $sc := deepCopy .Values.gateway.securityContext -}}
{{- if include "openshell.openshift" . -}}
{{- $sc = omit $sc "runAsUser" "runAsGroup" -}}
{{- end -}}
{{- toYaml $sc -}}
{{- end }}

{{/* Replicas the gateway runs at least: what the PDB and the rollout must leave serving. */}}
{{- define "openshell.gateway.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end -}}
{{- end }}

{{/*
Validation of the platform values, included by openshell.validateValues.
Each failure is one sentence saying what is wrong and what to set.
*/}}
{{- define "openshell.validatePlatform" -}}
{{- $kind := include "openshell.gateway.kind" . -}}
{{- if and (eq $kind "Deployment") (not .Values.database.external.enabled) }}
{{- fail "\n\nworkload.kind=Deployment needs database.external.enabled=true: with SQLite the database is a file on one pod's volume, which a Deployment neither keeps stable nor shares during a rollout. Leave workload.kind empty (StatefulSet for SQLite) or configure PostgreSQL (database.external.*)." }}
{{- end }}
{{- if and (eq $kind "StatefulSet") .Values.autoscaling.enabled }}
{{- fail (printf "\n\nautoscaling.enabled=true scales a Deployment, but the gateway is a StatefulSet (%s): SQLite is one pod's file and cannot be shared by more replicas. Set database.external.enabled=true (PostgreSQL) and leave workload.kind empty or set it to Deployment, or set autoscaling.enabled=false." (ternary "workload.kind=StatefulSet" "the default SQLite database" (eq (toString .Values.workload.kind) "StatefulSet"))) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail (printf "\n\nautoscaling.maxReplicas=%d is below autoscaling.minReplicas=%d: set maxReplicas to at least minReplicas." (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (kindIs "invalid" .Values.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" .Values.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "\n\nautoscaling.enabled=true needs a target: set autoscaling.targetCPUUtilizationPercentage or autoscaling.targetMemoryUtilizationPercentage (percent of the gateway container's request)." }}
{{- end }}
{{- $ru := .Values.gateway.rollingUpdate }}
{{- if and (eq $kind "Deployment") (eq (toString $ru.maxUnavailable) "0") (or (eq (toString $ru.maxSurge) "0") (eq (toString $ru.maxSurge) "0%")) }}
{{- fail "\n\ngateway.rollingUpdate.maxUnavailable=0 with maxSurge=0 leaves a rollout no way to proceed (Kubernetes refuses it): set maxSurge to 1 (a new pod starts before an old one stops) or allow maxUnavailable." }}
{{- end }}
{{- /* maxUnavailable as the Deployment controller resolves it (a percentage rounds down). */}}
{{- $replicas := int (include "openshell.gateway.minReplicas" .) }}
{{- $mu := toString $ru.maxUnavailable }}
{{- $unavailable := ternary (div (mul (int (trimSuffix "%" $mu)) $replicas) 100) (int $mu) (hasSuffix "%" $mu) }}
{{- if and (eq $kind "Deployment") (gt $unavailable 0) (ge $unavailable $replicas) }}
{{- fail (printf "\n\ngateway.rollingUpdate.maxUnavailable=%v lets a rollout stop all %d gateway replica(s) before their successors are ready: set it below %d (0, the default, keeps full capacity while maxSurge adds the new pod first) so at least one replica keeps serving." $ru.maxUnavailable $replicas $replicas) }}
{{- end }}
{{- $route := .Values.openshift.route }}
{{- if and $route.enabled .Values.disableTls }}
{{- fail "\n\nopenshift.route.enabled=true needs disableTls=false: the Route passes TLS through by SNI, so the gateway must terminate TLS itself. Keep TLS on, or put a TLS-terminating proxy in front instead of the passthrough Route." }}
{{- end }}
{{- if and $route.enabled (not (include "openshell.openshift" .)) }}
{{- fail "\n\nopenshift.route.enabled=true, but this is not an OpenShift cluster (it serves neither route.openshift.io/v1 nor security.openshift.io/v1), so the Route could not be created. On OpenShift, render offline with --api-versions route.openshift.io/v1 or set openshift.enabled=true; elsewhere use ingress.gatewayAPI or a LoadBalancer Service." }}
{{- end }}
{{- if and $route.enabled $route.host (ne .Values.tls.source "existing") (not (has $route.host .Values.tls.extraServerSans)) }}
{{- fail (printf "\n\nopenshift.route.host=%s is not on the gateway's certificate: clients reach the gateway through the passthrough Route by that name and the gateway presents its own certificate. Add it to tls.extraServerSans (e.g. --set tls.extraServerSans={%s})." $route.host $route.host) }}
{{- end }}
{{- if and (eq (int .Values.grpcRateLimit.requests) 0) (gt (int .Values.grpcRateLimit.windowSeconds) 0) }}
{{- fail (printf "\n\ngrpcRateLimit.windowSeconds=%d without grpcRateLimit.requests: set both to positive numbers to limit gRPC calls, or both to 0 to turn the limit off." (int .Values.grpcRateLimit.windowSeconds)) }}
{{- end }}
{{- if and (gt (int .Values.grpcRateLimit.requests) 0) (eq (int .Values.grpcRateLimit.windowSeconds) 0) }}
{{- fail (printf "\n\ngrpcRateLimit.requests=%d without grpcRateLimit.windowSeconds: set both to positive numbers to limit gRPC calls, or both to 0 to turn the limit off." (int .Values.grpcRateLimit.requests)) }}
{{- end }}
{{- range $i, $rc := .Values.runtimeClasses.create }}
{{- if or (not $rc.name) (not $rc.handler) }}
{{- fail (printf "\n\nruntimeClasses.create[%d] needs a name and a handler (the runtime handler configured in the nodes' container runtime, e.g. kata-qemu or runsc); got %s." $i (toJson $rc)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* gateway.toml lines ------------------------------------------------------------ */}}

{{/* [openshell.gateway] keys: the sandbox policy posture and the gRPC rate limit (both numbers, or neither). */}}
{{- define "openshell.toml.gatewayPlatform" -}}
policy_validation_failure_mode = {{ .Values.sandboxPolicy.validationFailureMode | quote }}
{{- if gt (int .Values.grpcRateLimit.requests) 0 }}
grpc_rate_limit_requests = {{ int .Values.grpcRateLimit.requests }}
grpc_rate_limit_window_seconds = {{ int .Values.grpcRateLimit.windowSeconds }}
{{- end }}
{{- end }}

{{/*
[openshell.drivers.kubernetes] keys: host aliases. (The managed-mode SSH ingress
policy is workspaces.managed.sshIngressPolicy, in _security.tpl.)
*/}}
{{- define "openshell.toml.driverPlatform" -}}
{{- if .Values.sandbox.hostGatewayIp -}}
host_gateway_ip = {{ .Values.sandbox.hostGatewayIp | quote }}
{{ end -}}
{{- end }}
