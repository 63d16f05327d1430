{{/* The release's name for its objects, at most 63 characters. */}}
{{- define "sluice.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the release's agents. */}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "sluice.labels" -}}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The Secret holding the bucket and metadata store URLs. */}}
{{- define "sluice.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- include "sluice.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
One agent Deployment. Called with a dict: root (the chart's context),
name (the Deployment's name) and zone ("" for none).
*/}}
{{- define "sluice.deployment" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  labels:
    {{- include "sluice.labels" $root | nindent 4 }}
    {{- if .zone }}
    sluice.dev/zone: {{ .zone | quote }}
    {{- end }}
spec:
  replicas: {{ $v.replicasPerZone }}
  selector:
    matchLabels:
      {{- include "sluice.selectorLabels" $root | nindent 6 }}
      {{- if .zone }}
      sluice.dev/zone: {{ .zone | quote }}
      {{- end }}
  template:
    metadata:
      labels:
        {{- include "sluice.selectorLabels" $root | nindent 8 }}
        {{- if .zone }}
        sluice.dev/zone: {{ .zone | quote }}
        {{- end }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "sluice.serviceAccountName" $root }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if .zone }}
      nodeSelector:
        topology.kubernetes.io/zone: {{ .zone | quote }}
        {{- with $v.nodeSelector }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- else }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "sluice.selectorLabels" $root | nindent 14 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: sluice
          image: "{{ $v.image.repository }}:{{ $v.image.tag | default $root.Chart.AppVersion }}"
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args:
            - agent
            {{- range $v.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          envFrom:
            - secretRef:
                name: {{ include "sluice.secretName" $root }}
          env:
            - name: POD_IP
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
            - name: SLUICE_KAFKA_ADDR
              value: "0.0.0.0:{{ $v.ports.kafka }}"
            # Clients connect to the address each agent advertises; the
            # node ID is derived from it.
            - name: SLUICE_ADVERTISE_ADDR
              value: "$(POD_IP):{{ $v.ports.kafka }}"
            - name: SLUICE_HTTP_ADDR
              value: "0.0.0.0:{{ $v.ports.http }}"
            - name: SLUICE_LOG_FORMAT
              value: {{ $v.logFormat | quote }}
            {{- if .zone }}
            - name: SLUICE_ZONE
              value: {{ .zone | quote }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: kafka
              containerPort: {{ $v.ports.kafka }}
            - name: http
              containerPort: {{ $v.ports.http }}
          # /readyz is 503 while the bucket or the metadata store fails,
          # so a broken agent leaves the Service; /healthz is 200 while
          # the process serves.
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            failureThreshold: 6
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
{{- end -}}
