{{/* Names, labels and the per-worker merge every template shares. */}}

{{- define "regime-fleet.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "regime-fleet.labels" -}}
app.kubernetes.io/name: regime-fleet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one worker: include "regime-fleet.selector" (list $ "engine") */}}
{{- define "regime-fleet.selector" -}}
app.kubernetes.io/name: regime-fleet
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "regime-fleet.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
Deep merge where the override always wins, false, 0 and "" included (mergeOverwrite drops
them): include "regime-fleet.merge" (list $base $override) | fromYaml
*/}}
{{- define "regime-fleet.merge" -}}
{{- $out := deepCopy (index . 0 | default dict) -}}
{{- range $k, $v := (index . 1 | default dict) -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $out $k)) -}}
{{- $_ := set $out $k (include "regime-fleet.merge" (list (get $out $k) $v) | fromYaml) -}}
{{- else -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
The enabled workers, each merged over workerDefaults, as YAML (use with fromYaml). Checks the
rules values.schema.json cannot express, so a bad combination fails at install with a message.
*/}}
{{- define "regime-fleet.workers" -}}
{{- $k := .Values.kafka -}}
{{- if and (include "regime-fleet.sasl" .) (not $k.sasl.existingSecret) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.existingSecret (the Secret holding key %q)" $k.securityProtocol $k.sasl.passwordKey) -}}
{{- end -}}
{{- $out := dict -}}
{{- $partitions := int .Values.fleet.partitions -}}
{{- range $name, $spec := .Values.workers -}}
{{- $w := include "regime-fleet.merge" (list $.Values.workerDefaults $spec) | fromYaml -}}
{{- if $w.enabled -}}
{{- $keda := $w.autoscaling.keda -}}
{{- $hpa := $w.autoscaling.hpa -}}
{{- if and $keda.enabled $hpa.enabled -}}
{{- fail (printf "workers.%s: autoscaling.keda and autoscaling.hpa are both enabled; choose one" $name) -}}
{{- end -}}
{{- if and $keda.enabled (not $w.inputs) -}}
{{- fail (printf "workers.%s: autoscaling.keda needs a consumer group and an input topic; %s has no inputs (use autoscaling.hpa)" $name $name) -}}
{{- end -}}
{{- if $w.inputs -}}
{{- if gt (int $w.replicas) $partitions -}}
{{- fail (printf "workers.%s.replicas (%d) is above fleet.partitions (%d): the extra replicas would sit idle" $name (int $w.replicas) $partitions) -}}
{{- end -}}
{{- range $kind, $auto := dict "keda" $keda "hpa" $hpa -}}
{{- if and $auto.enabled (gt (int $auto.maxReplicas) $partitions) -}}
{{- fail (printf "workers.%s.autoscaling.%s.maxReplicas (%d) is above fleet.partitions (%d): replicas beyond the partition count sit idle" $name $kind (int $auto.maxReplicas) $partitions) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $keda.enabled (le (int $keda.activationLagThreshold) $partitions) -}}
{{- fail (printf "workers.%s.autoscaling.keda.activationLagThreshold (%d) must be above fleet.partitions (%d): an idle topic can show a lag of 1 per partition (a trailing transaction marker)" $name (int $keda.activationLagThreshold) $partitions) -}}
{{- end -}}
{{- if and (eq $w.kind "CronJob") (not $w.schedule) -}}
{{- fail (printf "workers.%s: kind CronJob needs a schedule" $name) -}}
{{- end -}}
{{- $_ := set $out $name $w -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{- define "regime-fleet.sasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{- define "regime-fleet.tls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/*
The settings file of one worker (FleetSettings, workers/config.py): chart values, then
`settings`, then the worker's own `settings`, then what the chart owns. Never a secret: those
come in as REGIME_FLEET_KAFKA__* environment variables from the existing Secrets.
include "regime-fleet.settings" (list $ "engine" $w)
*/}}
{{- define "regime-fleet.settings" -}}
{{- $ := index . 0 -}}
{{- $name := index . 1 -}}
{{- $w := index . 2 -}}
{{- $k := $.Values.kafka -}}
{{- $kafka := dict "bootstrap_servers" $k.bootstrapServers "security_protocol" $k.securityProtocol -}}
{{- if include "regime-fleet.sasl" $ -}}
{{- $sasl := include "regime-fleet.saslFor" (list $ $w.sasl) | fromYaml -}}
{{- $_ := set $kafka "sasl_mechanism" $sasl.mechanism -}}
{{- if and $sasl.username (not $sasl.usernameKey) -}}
{{- $_ := set $kafka "sasl_username" $sasl.username -}}
{{- end -}}
{{- end -}}
{{- if and (include "regime-fleet.tls" $) $k.tls.existingSecret -}}
{{- if $k.tls.caKey -}}{{- $_ := set $kafka "ssl_ca_location" (printf "/etc/regime-fleet/kafka-tls/%s" $k.tls.caKey) -}}{{- end -}}
{{- if $k.tls.certKey -}}{{- $_ := set $kafka "ssl_certificate_location" (printf "/etc/regime-fleet/kafka-tls/%s" $k.tls.certKey) -}}{{- end -}}
{{- if $k.tls.keyKey -}}{{- $_ := set $kafka "ssl_key_location" (printf "/etc/regime-fleet/kafka-tls/%s" $k.tls.keyKey) -}}{{- end -}}
{{- end -}}
{{- if $k.schemaRegistry.url -}}
{{- $_ := set $kafka "schema_registry_url" $k.schemaRegistry.url -}}
{{- end -}}
{{- if $k.extra -}}
{{- $_ := set $kafka "extra" $k.extra -}}
{{- end -}}
{{- $owned := dict "topic_prefix" $.Values.fleet.topicPrefix "partitions" (int $.Values.fleet.partitions) "replication_factor" (int $.Values.fleet.replicationFactor) "kafka" $kafka "runtime" (dict "http_port" (int $.Values.httpPort) "state_dir" "/state") -}}
{{- if eq $name "api" -}}
{{- /* The api serves its routes and /healthz /readyz /metrics /status on one port. */ -}}
{{- $apiOwned := dict "port" (int $.Values.httpPort) -}}
{{- if $w.tokensSecret -}}
{{- $_ := set $apiOwned "tokens_file" "/etc/regime-fleet/api-tokens/tokens" -}}
{{- end -}}
{{- $_ := set $owned "api" $apiOwned -}}
{{- end -}}
{{- $merged := include "regime-fleet.merge" (list $.Values.settings $w.settings) | fromYaml -}}
{{- include "regime-fleet.merge" (list $merged $owned) -}}
{{- end -}}

{{/*
The SASL settings of one pod: kafka.sasl, with the keys of its own `sasl` (a worker's, or
topicInit's) replacing them: a principal per worker. A literal username drops usernameKey.
include "regime-fleet.saslFor" (list $ $w.sasl) | fromYaml
*/}}
{{- define "regime-fleet.saslFor" -}}
{{- $ := index . 0 -}}
{{- $own := index . 1 | default dict -}}
{{- $sasl := merge (deepCopy $own) (deepCopy $.Values.kafka.sasl) -}}
{{- if and $own.username (not $own.usernameKey) -}}
{{- $_ := set $sasl "usernameKey" "" -}}
{{- end -}}
{{- toYaml $sasl -}}
{{- end -}}

{{/* Environment: secrets from existing Secrets, the instance id from the pod name.
include "regime-fleet.env" (list $ $w.sasl) */}}
{{- define "regime-fleet.env" -}}
{{- $ := index . 0 -}}
{{- $k := $.Values.kafka -}}
- name: REGIME_FLEET_LOG_LEVEL
  value: {{ $.Values.logLevel | quote }}
- name: REGIME_FLEET_RUNTIME__INSTANCE_ID
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
{{- if include "regime-fleet.sasl" $ }}
{{- $sasl := include "regime-fleet.saslFor" . | fromYaml }}
{{- if $sasl.usernameKey }}
- name: REGIME_FLEET_KAFKA__SASL_USERNAME
  valueFrom: {secretKeyRef: {name: {{ $sasl.existingSecret }}, key: {{ $sasl.usernameKey }}}}
{{- else }}
- name: REGIME_FLEET_KAFKA__SASL_USERNAME
  value: {{ $sasl.username | quote }}
{{- end }}
- name: REGIME_FLEET_KAFKA__SASL_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $sasl.existingSecret }}, key: {{ $sasl.passwordKey }}}}
{{- end }}
{{- with $ }}
{{- if and (include "regime-fleet.tls" .) $k.tls.existingSecret $k.tls.keyPasswordKey }}
- name: REGIME_FLEET_KAFKA__SSL_KEY_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $k.tls.existingSecret }}, key: {{ $k.tls.keyPasswordKey }}}}
{{- end }}
{{- if and $k.schemaRegistry.existingSecret $k.schemaRegistry.basicAuthKey }}
- name: REGIME_FLEET_KAFKA__SCHEMA_REGISTRY_BASIC_AUTH
  valueFrom: {secretKeyRef: {name: {{ $k.schemaRegistry.existingSecret }}, key: {{ $k.schemaRegistry.basicAuthKey }}}}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes every pod mounts besides its state: settings, /tmp, Kafka TLS. */}}
{{- define "regime-fleet.volumeMounts" -}}
- {name: settings, mountPath: /etc/regime-fleet/settings, readOnly: true}
- {name: tmp, mountPath: /tmp}
{{- if and (include "regime-fleet.tls" .) .Values.kafka.tls.existingSecret }}
- {name: kafka-tls, mountPath: /etc/regime-fleet/kafka-tls, readOnly: true}
{{- end }}
{{- end -}}

{{- define "regime-fleet.volumes" -}}
{{- $ := index . 0 -}}
{{- $configMap := index . 1 -}}
- name: settings
  configMap: {name: {{ $configMap }}}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- if and (include "regime-fleet.tls" $) $.Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret: {secretName: {{ $.Values.kafka.tls.existingSecret }}, defaultMode: 0440}
{{- end }}
{{- end -}}
