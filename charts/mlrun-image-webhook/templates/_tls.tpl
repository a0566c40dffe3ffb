{{/*
  tls.mode=generate: the CA and serving certificate, as YAML (include ... | fromYaml).

  On install: a new CA (genCA) and a serving certificate signed by it (genSignedCert) for the Service DNS names.
  On upgrade: the existing Secret is read back (lookup) and kept as it is unless
    - a key is missing, or
    - the DNS names changed (annotation mlrun-image-webhook/dns-names), or
    - the certificate or the CA expires within tls.generate.renewBeforeDays.
  When it is reissued, the caBundle carries the new CA AND the previous one, so a replica still serving the previous
  certificate (the kubelet updates Secret volumes after a delay, then the server reloads the files) stays trusted.
  The CA key is not stored: the CA only ever signs one certificate, reissuing means a new CA.

  Without cluster access (helm template, Argo CD) lookup returns nothing and every render makes new certificates:
  use tls.mode=cert-manager or secret there.
*/}}
{{- define "miw.generatedTls" -}}
{{- $cfg := .Values.tls.generate }}
{{- $dnsNames := include "miw.dnsNames" . | fromJsonArray }}
{{- $dnsKey := join "," $dnsNames }}
{{- $now := now | unixEpoch | int64 }}
{{- $renewBefore := mul (int64 $cfg.renewBeforeDays) 86400 }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "miw.tlsSecretName" .) | default dict }}
{{- $data := get $existing "data" | default dict }}
{{- $ann := dig "metadata" "annotations" (dict) $existing }}
{{- $certNotAfter := get $ann "mlrun-image-webhook/cert-not-after" | default "0" | int64 }}
{{- $caNotAfter := get $ann "mlrun-image-webhook/ca-not-after" | default "0" | int64 }}
{{- $complete := and (get $data "tls.crt") (get $data "tls.key") (get $data "ca.crt") }}
{{- $sameNames := eq (get $ann "mlrun-image-webhook/dns-names" | default "") $dnsKey }}
{{- $fresh := and (gt (sub $certNotAfter $now) $renewBefore) (gt (sub $caNotAfter $now) $renewBefore) }}
{{- if and $complete $sameNames $fresh }}
crt: {{ get $data "tls.crt" }}
key: {{ get $data "tls.key" }}
ca: {{ get $data "ca.crt" }}
caBundle: {{ get $data "ca.crt" }}
certNotAfter: {{ $certNotAfter | quote }}
caNotAfter: {{ $caNotAfter | quote }}
dnsNames: {{ $dnsKey | quote }}
reused: true
{{- else }}
{{- $ca := genCA (printf "%s-ca" (include "miw.fullname" .)) (int $cfg.caValidityDays) }}
{{- $cert := genSignedCert (index $dnsNames 2) nil $dnsNames (int $cfg.certValidityDays) $ca }}
{{- $bundle := trim $ca.Cert }}
{{- with get $data "ca.crt" }}
{{- $previous := b64dec . | trim }}
{{- if and (contains "-----BEGIN CERTIFICATE-----" $previous) (ne $previous $bundle) }}
{{- $bundle = printf "%s\n%s" $bundle $previous }}
{{- end }}
{{- end }}
crt: {{ $cert.Cert | b64enc }}
key: {{ $cert.Key | b64enc }}
ca: {{ $ca.Cert | b64enc }}
caBundle: {{ printf "%s\n" $bundle | b64enc }}
certNotAfter: {{ add $now (mul (int64 $cfg.certValidityDays) 86400) | quote }}
caNotAfter: {{ add $now (mul (int64 $cfg.caValidityDays) 86400) | quote }}
dnsNames: {{ $dnsKey | quote }}
reused: false
{{- end }}
{{- end }}
