{{/* Names, labels and the image, shared by every template. */}}

{{- define "herald.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A component's name: herald.name (dict "root" $ "component" "edge") */}}
{{- define "herald.name" -}}
{{- printf "%s-%s" (include "herald.fullname" .root) .component -}}
{{- end -}}

{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: herald
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "herald.labels" -}}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "herald.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) | quote }}
{{- end -}}

{{/* The flags every Kafka client takes. */}}
{{- define "herald.kafkaArgs" -}}
- --kafka_bootstrap={{ .Values.kafka.bootstrap }}
- --topic={{ .Values.kafka.topic }}
- --partitions={{ .Values.kafka.partitions }}
- --retention_ms={{ .Values.kafka.retentionMs | int64 }}
{{- if .Values.kafka.properties }}
- --kafka_properties={{ .Values.kafka.properties }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every Deployment. */}}
{{- define "herald.podSpec" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Whether the chart manages an auth Secret, or uses one. */}}
{{- define "herald.authSecret" -}}
{{- if .Values.auth.existingSecret -}}
{{ .Values.auth.existingSecret }}
{{- else if or .Values.auth.hs256Secret .Values.auth.rs256PublicKey .Values.auth.es256PublicKey -}}
{{ include "herald.name" (dict "root" . "component" "auth") }}
{{- end -}}
{{- end -}}
