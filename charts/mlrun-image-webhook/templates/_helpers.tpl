{{/* Names ------------------------------------------------------------------------------------------------------ */}}

{{- define "miw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "miw.fullname" -}}
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

{{- define "miw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: selector labels never change after install (Deployment selectors are immutable). */}}
{{- define "miw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "miw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "miw.baseLabels" -}}
helm.sh/chart: {{ include "miw.chart" . }}
app.kubernetes.io/name: {{ include "miw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlrun-image-webhook
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of the webhook's own objects (component webhook). */}}
{{- define "miw.labels" -}}
{{ include "miw.baseLabels" . }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "miw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "miw.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "miw.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "miw.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "miw.fullname" .)) }}
{{- end }}

{{- define "miw.configMapName" -}}
{{- printf "%s-config" (include "miw.fullname" .) }}
{{- end }}

{{/* The pre-install/pre-upgrade config check (Job and its own ConfigMap copy; templates/config-validation.yaml). */}}
{{- define "miw.configValidationName" -}}
{{- printf "%s-validate-config" (include "miw.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The server's config file: exactly the values mlrun, webhook, log, discovery, mirror and policy, minus their
     chart-only keys (mlrun.envFrom, discovery.configMapNames, mirror.pullSecrets/caBundle, policy.namespaceLabel/
     failurePolicy); mirror.pullSecrets and mirror.caBundle become the mounted files' paths. One definition for the
     release's ConfigMap and the hook's copy, so the hook checks byte for byte what will be served. */}}
{{- define "miw.configYaml" -}}
{{- $mirror := omit .Values.mirror "pullSecrets" "caBundle" }}
{{- $files := .Values.mirror.pullSecretFiles | default list }}
{{- range .Values.mirror.pullSecrets }}
{{- $files = append $files (printf "%s/%s/.dockerconfigjson" (include "miw.pullSecretsDir" $) .) }}
{{- end }}
{{- $_ := set $mirror "pullSecretFiles" $files }}
{{- if include "miw.registryCaSource" . }}
{{- $_ := set $mirror "caFile" (include "miw.registryCaFile" .) }}
{{- end -}}
# Rendered by the mlrun-image-webhook chart from the values of the same names. Change the values, not this.
{{ dict "mlrun" (omit .Values.mlrun "envFrom") "webhook" .Values.webhook "log" .Values.log "discovery" (omit .Values.discovery "configMapNames") "mirror" $mirror "policy" (omit .Values.policy "namespaceLabel" "failurePolicy") | toYaml }}
{{- end }}

{{/* Where mirror.pullSecrets are mounted (one directory per Secret) and where the registry CA bundle is. */}}
{{- define "miw.pullSecretsDir" -}}/etc/mlrun-image-webhook/registry/pull-secrets{{- end }}
{{- define "miw.registryCaDir" -}}/etc/mlrun-image-webhook/registry/ca{{- end }}
{{- define "miw.registryCaFile" -}}{{ include "miw.registryCaDir" . }}/ca.crt{{- end }}
{{/* "configMap" or "secret" when mirror.caBundle names one, else "". */}}
{{- define "miw.registryCaSource" -}}
{{- if .Values.mirror.caBundle.configMap }}configMap{{ else if .Values.mirror.caBundle.secret }}secret{{ end }}
{{- end }}

{{/* "true" when the production webhook entry is rendered: the policy does something (docs/adr/0008). */}}
{{- define "miw.productionEntry" -}}
{{- if or (ne .Values.policy.pinTags "off") (ne .Values.policy.pinDigests "off") }}true{{ end }}
{{- end }}

{{/* The production entry's failurePolicy: the value, else Fail when the policy refuses Pods (deny, rewrite) or the
     main entry fails closed, else Ignore. */}}
{{- define "miw.productionFailurePolicy" -}}
{{- if .Values.policy.failurePolicy }}{{ .Values.policy.failurePolicy }}
{{- else if or (has .Values.policy.pinTags (list "deny" "rewrite")) (eq .Values.failurePolicy "Fail") }}Fail
{{- else }}Ignore
{{- end }}
{{- end }}

{{/* The registries are asked (mirror checks or digest pinning): NetworkPolicy egress to them is needed. */}}
{{- define "miw.registryEgress" -}}
{{- if or .Values.mirror.enabled (eq .Values.policy.pinDigests "resolve") }}true{{ end }}
{{- end }}

{{/* The webhook container's environment (mlrun.envFrom), shared by the Deployment and the config check, so the check
     sees the same MLRUN_* overrides the server will. */}}
{{- define "miw.envFrom" -}}
{{- with .Values.mlrun.envFrom }}
# Read at start only: MLRUN_* keys here override the mlrun.* values; a change needs a restart.
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Webhook entry names: fully qualified, unique per release; the API server's metrics carry them as name="...". */}}
{{- define "miw.webhookName" -}}
{{- printf "%s.%s.svc" (include "miw.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "miw.failClosedWebhookName" -}}
{{- printf "fail-closed.%s.%s.svc" (include "miw.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "miw.productionWebhookName" -}}
{{- printf "production.%s.%s.svc" (include "miw.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "miw.productionFailClosedWebhookName" -}}
{{- printf "fail-closed.production.%s.%s.svc" (include "miw.fullname" .) .Release.Namespace }}
{{- end }}

{{/* The Service DNS names the serving certificate must be valid for. */}}
{{- define "miw.dnsNames" -}}
{{- $svc := include "miw.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/* Namespaces no webhook entry may ever serve (deadlock or cluster-critical). */}}
{{- define "miw.alwaysExcluded" -}}
{{- list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace | uniq | toJson }}
{{- end }}

{{/* Kubernetes version gates ("true" or ""). */}}
{{- define "miw.kubeAtLeast" -}}
{{- if semverCompare (printf ">=%s-0" .version) .ctx.Capabilities.KubeVersion.Version }}true{{ end }}
{{- end }}

{{/* preStop mode after resolving "auto". */}}
{{- define "miw.preStopMode" -}}
{{- $mode := .Values.preStop.mode }}
{{- if eq $mode "auto" }}
{{- if include "miw.kubeAtLeast" (dict "ctx" . "version" "1.30.0") }}sleep{{ else }}exec{{ end }}
{{- else }}
{{- $mode }}
{{- end }}
{{- end }}

{{/* The tag the helm test expects on mlrun/mlrun (MLRun's rule: imagesTag as given, else the normalised version).
     Empty when env overrides may change it (mlrun.envFrom): the test then accepts any tag. */}}
{{- define "miw.expectedTag" -}}
{{- if not .Values.mlrun.envFrom }}
{{- if .Values.mlrun.imagesTag }}
{{- .Values.mlrun.imagesTag }}
{{- else }}
{{- .Values.mlrun.version | replace "+" "-" | replace "0.0.0-" "" }}
{{- end }}
{{- end }}
{{- end }}

{{/* tls.caBundle (secret mode) as the base64 the caBundle field wants. Accepts PEM or base64 of PEM. */}}
{{- define "miw.userCaBundle" -}}
{{- $raw := .Values.tls.caBundle | trim }}
{{- $pem := "" }}
{{- if contains "-----BEGIN CERTIFICATE-----" $raw }}
{{- $pem = $raw }}
{{- else }}
{{- $pem = b64dec $raw }}
{{- end }}
{{- if not (contains "-----BEGIN CERTIFICATE-----" $pem) }}
{{- fail "tls.caBundle must be the CA certificate as PEM (-----BEGIN CERTIFICATE-----...) or base64 of that PEM" }}
{{- end }}
{{- printf "%s\n" (trim $pem) | b64enc }}
{{- end }}

{{/* Value checks that a JSON schema cannot express. Each message names the value and the fix. */}}
{{- define "miw.validate" -}}
{{- $ns := .Release.Namespace }}
{{- $excluded := include "miw.alwaysExcluded" . | fromJsonArray }}
{{- if eq .Values.tls.mode "secret" }}
{{- if not .Values.tls.secretName }}
{{- fail (printf "tls.mode=secret needs tls.secretName: the name of an existing kubernetes.io/tls Secret (keys tls.crt, tls.key) in namespace %s" $ns) }}
{{- end }}
{{- if not .Values.tls.caBundle }}
{{- fail "tls.mode=secret needs tls.caBundle: the PEM (or base64 PEM) of the CA that signed the certificate in tls.secretName; the API server uses it to trust the webhook" }}
{{- end }}
{{- else if .Values.tls.caBundle }}
{{- fail (printf "tls.caBundle is only used with tls.mode=secret (tls.mode is %s): remove it or set tls.mode=secret" .Values.tls.mode) }}
{{- end }}
{{- if and (eq .Values.tls.mode "generate") (gt (int .Values.tls.generate.certValidityDays) (int .Values.tls.generate.caValidityDays)) }}
{{- fail "tls.generate.certValidityDays must not exceed tls.generate.caValidityDays (a certificate cannot outlive its CA)" }}
{{- end }}
{{- if ge (int .Values.preStop.seconds) (int .Values.terminationGracePeriodSeconds) }}
{{- if ne .Values.preStop.mode "none" }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than preStop.seconds (%d), or the pod is killed before it drains" (int .Values.terminationGracePeriodSeconds) (int .Values.preStop.seconds)) }}
{{- end }}
{{- end }}
{{- if and (eq .Values.preStop.mode "sleep") (not (include "miw.kubeAtLeast" (dict "ctx" . "version" "1.30.0"))) }}
{{- fail (printf "preStop.mode=sleep needs Kubernetes >= 1.30 (this is %s): use preStop.mode=auto or exec" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- if and .Values.matchConditions (not (include "miw.kubeAtLeast" (dict "ctx" . "version" "1.28.0"))) }}
{{- fail (printf "matchConditions need Kubernetes >= 1.28 (this is %s): remove them" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- range $n := concat .Values.targetNamespaces .Values.failClosedNamespaces }}
{{- if has $n $excluded }}
{{- fail (printf "namespace %s cannot be served by the webhook (kube-system, kube-public, kube-node-lease and the release namespace %s are always excluded, so the webhook can never block its own pods): remove it from targetNamespaces/failClosedNamespaces" $n $ns) }}
{{- end }}
{{- end }}
{{- if and .Values.excludeKubePrefixedNamespaces (include "miw.kubeAtLeast" (dict "ctx" . "version" "1.28.0")) }}
{{- range $list := list "targetNamespaces" "failClosedNamespaces" }}
{{- range $n := index $.Values $list }}
{{- if hasPrefix "kube-" $n }}
{{- fail (printf "%s entry %s would never be served: excludeKubePrefixedNamespaces=true skips every kube-* namespace (matchCondition exclude-kube-prefixed-namespaces). Remove it from %s, or set excludeKubePrefixedNamespaces=false" $list $n $list) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- /* The one limit of a label/annotation key values.schema.json cannot hold (no lookahead in Go's regexp): the
       prefix before "/" is at most 253 characters. The server refuses such a config too, but only at load. */}}
{{- range $key := list "optOutKey" "annotationKey" }}
{{- $v := index $.Values.webhook $key | default "" | toString }}
{{- if contains "/" $v }}
{{- $prefix := index (splitList "/" $v) 0 }}
{{- if gt (len $prefix) 253 }}
{{- fail (printf "webhook.%s: the prefix before \"/\" must be at most 253 characters, got %d" $key (len $prefix)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.targetNamespaces }}
{{- range $n := .Values.failClosedNamespaces }}
{{- if not (has $n $.Values.targetNamespaces) }}
{{- fail (printf "failClosedNamespaces entry %s is not in targetNamespaces: add it there too" $n) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $n := .Values.failClosedNamespaces }}
{{- if has $n $.Values.excludedNamespaces }}
{{- fail (printf "namespace %s is both in failClosedNamespaces and excludedNamespaces" $n) }}
{{- end }}
{{- end }}
{{- if and .Values.pdb.enabled (gt (int .Values.replicaCount) 1) (not (kindIs "string" .Values.pdb.minAvailable)) }}
{{- if ge (int .Values.pdb.minAvailable) (int .Values.replicaCount) }}
{{- fail (printf "pdb.minAvailable (%d) must be lower than replicaCount (%d), or no node can ever be drained" (int .Values.pdb.minAvailable) (int .Values.replicaCount)) }}
{{- end }}
{{- end }}
{{- if ge (int .Values.prometheusRule.certificateExpiryCriticalDays) (int .Values.prometheusRule.certificateExpiryDays) }}
{{- fail (printf "prometheusRule.certificateExpiryCriticalDays (%d) must be lower than prometheusRule.certificateExpiryDays (%d): the warning comes first" (int .Values.prometheusRule.certificateExpiryCriticalDays) (int .Values.prometheusRule.certificateExpiryDays)) }}
{{- end }}
{{- /* cert-manager renews renewBefore ahead of expiry: a warning threshold at or above that would fire on every
       healthy renewal cycle. Checked for whole hours (the default form); other Go durations are left to the operator. */}}
{{- if and .Values.prometheusRule.enabled (eq .Values.tls.mode "cert-manager") (regexMatch "^[0-9]+h$" .Values.tls.certManager.renewBefore) }}
{{- $renewHours := trimSuffix "h" .Values.tls.certManager.renewBefore | int }}
{{- if le $renewHours (mul (int .Values.prometheusRule.certificateExpiryDays) 24) }}
{{- fail (printf "tls.certManager.renewBefore (%s) must be longer than prometheusRule.certificateExpiryDays (%d days), or the expiry alert fires before every routine renewal" .Values.tls.certManager.renewBefore (int .Values.prometheusRule.certificateExpiryDays)) }}
{{- end }}
{{- end }}
{{- /* Discovery, mirror and policy. */}}
{{- if gt (int .Values.mirror.budgetMs) (mul (int .Values.timeoutSeconds) 250) }}
{{- fail (printf "mirror.budgetMs (%d) must be at most a quarter of the webhook timeout (timeoutSeconds %d: at most %d ms), or the API server gives up on the webhook while it waits for a registry" (int .Values.mirror.budgetMs) (int .Values.timeoutSeconds) (mul (int .Values.timeoutSeconds) 250)) }}
{{- end }}
{{- if and .Values.mirror.caBundle.configMap .Values.mirror.caBundle.secret }}
{{- fail "mirror.caBundle: set configMap or secret, not both" }}
{{- end }}
{{- if and (include "miw.registryCaSource" .) .Values.mirror.caFile }}
{{- fail (printf "mirror.caFile (%s) and mirror.caBundle are both set: the chart writes the mounted bundle's path into mirror.caFile; leave mirror.caFile empty" .Values.mirror.caFile) }}
{{- end }}
{{- if and .Values.networkPolicy.enabled .Values.discovery.enabled (not .Values.networkPolicy.apiServer.cidr) }}
{{- fail "discovery.enabled with networkPolicy.enabled needs networkPolicy.apiServer.cidr (and .port): the API server endpoint addresses, from `kubectl get endpoints kubernetes -n default`, e.g. 10.0.0.10/32; without it discovery cannot reach the API server" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (include "miw.registryEgress" .) (not .Values.networkPolicy.registries) (not .Values.networkPolicy.extraEgress) }}
{{- fail "mirror.enabled or policy.pinDigests=resolve with networkPolicy.enabled needs networkPolicy.registries (e.g. [{cidr: 10.1.2.3/32, ports: [5000]}]) or networkPolicy.extraEgress: the webhook must reach the registries (and their token realms)" }}
{{- end }}
{{- if eq .Values.policy.namespaceLabel.key .Values.webhook.optOutKey }}
{{- fail (printf "policy.namespaceLabel.key and webhook.optOutKey are both %s: the production label must be its own key" .Values.webhook.optOutKey) }}
{{- end }}
{{- if has "*" .Values.discovery.namespaces }}
{{- if gt (len .Values.discovery.namespaces) 1 }}
{{- fail "discovery.namespaces: \"*\" (every namespace) must be the only entry" }}
{{- end }}
{{- end }}
{{- $names := list }}
{{- range .Values.matchConditions }}
{{- if has .name $names }}{{ fail (printf "matchConditions: name %s is used twice" .name) }}{{ end }}
{{- if eq .name "exclude-kube-prefixed-namespaces" }}{{ fail "matchConditions: the name exclude-kube-prefixed-namespaces is reserved (excludeKubePrefixedNamespaces)" }}{{ end }}
{{- $names = append $names .name }}
{{- end }}
{{- end }}
