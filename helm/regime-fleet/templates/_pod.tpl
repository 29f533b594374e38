{{/* The pod template of one worker: include "regime-fleet.podSpec" (list $ name $w) */}}
{{- define "regime-fleet.podSpec" -}}
{{- $ := index . 0 -}}
{{- $name := index . 1 -}}
{{- $w := index . 2 -}}
{{- $full := include "regime-fleet.fullname" $ -}}
{{- $isService := ne $w.kind "CronJob" -}}
metadata:
  labels:
    {{- include "regime-fleet.selector" (list $ $name) | nindent 4 }}
  annotations:
    checksum/settings: {{ include "regime-fleet.settings" (list $ $name $w) | sha256sum }}
    {{- with $w.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- if $.Values.serviceAccount.create }}
  serviceAccountName: {{ $full }}-{{ $name }}
  {{- end }}
  automountServiceAccountToken: false
  {{- with $.Values.imagePullSecrets }}
  imagePullSecrets: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if not $isService }}
  restartPolicy: OnFailure
  {{- end }}
  terminationGracePeriodSeconds: {{ $w.terminationGracePeriodSeconds }}
  securityContext: {{- toYaml $.Values.podSecurityContext | nindent 4 }}
  {{- if and $isService $.Values.topologySpread.enabled }}
  topologySpreadConstraints:
    {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - maxSkew: {{ $.Values.topologySpread.maxSkew }}
      topologyKey: {{ $key }}
      whenUnsatisfiable: {{ $.Values.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "regime-fleet.selector" (list $ $name) | nindent 10 }}
    {{- end }}
  {{- end }}
  {{- with $w.nodeSelector }}
  nodeSelector: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $w.tolerations }}
  tolerations: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $w.affinity }}
  affinity: {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    {{- /* With standby, a second process of the same identity waits for the slot (runtime.slot)
    on the shared state volume and takes over a crashed one at once (docs/reliability.md). */}}
    {{- range $role := ternary (list "" "-standby") (list "") (and $isService ($w.standby | default false)) }}
    - name: {{ $name }}{{ $role }}
      image: {{ include "regime-fleet.image" $ | quote }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      args: {{- toYaml (prepend ($w.args | default (list "run" $name)) "--config=/etc/regime-fleet/settings/settings.yaml") | nindent 8 }}
      env:
        {{- include "regime-fleet.env" (list $ $w.sasl) | nindent 8 }}
        {{- with $w.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if $w.standby }}
        - {name: REGIME_FLEET_RUNTIME__SLOT, value: "0"}
        {{- end }}
        {{- if $role }}
        - {name: REGIME_FLEET_RUNTIME__HTTP_PORT, value: {{ add1 $.Values.httpPort | quote }}}
        {{- end }}
      {{- if $isService }}
      ports:
        - {name: http{{ $role }}, containerPort: {{ ternary (add1 $.Values.httpPort) $.Values.httpPort (ne $role "") }}, protocol: TCP}
      startupProbe:
        httpGet: {path: /healthz, port: http{{ $role }}}
        periodSeconds: {{ $w.probes.startup.periodSeconds }}
        failureThreshold: {{ $w.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet: {path: /healthz, port: http{{ $role }}}
        periodSeconds: {{ $w.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ $w.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ $w.probes.liveness.failureThreshold }}
      readinessProbe:
        {{- /* a standing-by process counts as ready on the pair's behalf */}}
        httpGet: {path: {{ ternary "/readyz?standby=ok" "/readyz" (and $w.standby true) | quote }}, port: http{{ $role }}}
        periodSeconds: {{ $w.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ $w.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ $w.probes.readiness.failureThreshold }}
      {{- end }}
      resources: {{- toYaml $w.resources | nindent 8 }}
      securityContext: {{- toYaml $.Values.securityContext | nindent 8 }}
      volumeMounts:
        - {name: state, mountPath: /state}
        {{- include "regime-fleet.volumeMounts" $ | nindent 8 }}
        {{- if and (eq $name "api") $w.tokensSecret }}
        - {name: api-tokens, mountPath: /etc/regime-fleet/api-tokens, readOnly: true}
        {{- end }}
    {{- end }}
  volumes:
    {{- include "regime-fleet.volumes" (list $ (printf "%s-%s-settings" $full $name)) | nindent 4 }}
    {{- if not (and (eq $w.kind "StatefulSet") $w.persistence.enabled) }}
    - name: state
      emptyDir: {}
    {{- end }}
    {{- if and (eq $name "api") $w.tokensSecret }}
    - name: api-tokens
      secret: {secretName: {{ $w.tokensSecret }}, defaultMode: 0440}
    {{- end }}
{{- end -}}
