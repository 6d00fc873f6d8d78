{{/* Names */}}
{{- define "impp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "impp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "impp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "impp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "impp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "impp.labels" -}}
helm.sh/chart: {{ include "impp.chart" . }}
{{ include "impp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: impp
{{- end -}}

{{- define "impp.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Secrets */}}
{{- define "impp.databaseSecretName" -}}
{{- if .Values.backends.database.existingSecret -}}
{{- .Values.backends.database.existingSecret -}}
{{- else if .Values.backends.database.url -}}
{{- printf "%s-database" (include "impp.fullname" .) -}}
{{- else -}}
{{- fail "backends.database.url or backends.database.existingSecret is required (PostgreSQL for accounts and durable state)" -}}
{{- end -}}
{{- end -}}

{{- define "impp.databaseSecretKey" -}}
{{- if .Values.backends.database.existingSecret -}}
{{- .Values.backends.database.existingSecretKey | default "IMPP_DATABASE_URL" -}}
{{- else -}}
IMPP_DATABASE_URL
{{- end -}}
{{- end -}}

{{- define "impp.tlsSecretName" -}}
{{- if .Values.edge.tls.existingSecret -}}
{{- .Values.edge.tls.existingSecret -}}
{{- else if and .Values.edge.tls.certificate .Values.edge.tls.key -}}
{{- printf "%s-tls" (include "impp.fullname" .) -}}
{{- else if or .Values.edge.tls.certificate .Values.edge.tls.key -}}
{{- fail "edge.tls.certificate and edge.tls.key go together" -}}
{{- end -}}
{{- end -}}

{{/*
An env entry for a backend URL: from the named Secret when one is given, else the plain value.
Arguments: dict "env" VAR "backend" .Values.backends.X "path" "backends.X".
*/}}
{{- define "impp.backendEnv" -}}
- name: {{ .env }}
{{- if .backend.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .backend.existingSecret }}
      key: {{ .backend.existingSecretKey | default .env }}
{{- else }}
  value: {{ required (printf "%s.url or %s.existingSecret is required" .path .path) .backend.url | quote }}
{{- end }}
{{- end -}}

{{/* Environment every serving process gets: bus, live state, shared settings, its own id. */}}
{{- define "impp.commonEnv" -}}
{{ include "impp.backendEnv" (dict "env" "IMPP_NATS_URL" "backend" .Values.backends.nats "path" "backends.nats") }}
{{ include "impp.backendEnv" (dict "env" "IMPP_REDIS_URL" "backend" .Values.backends.redis "path" "backends.redis") }}
# Unique per process on the bus and in Redis; a pod name is 1-63 of [a-z0-9-], which fits.
- name: IMPP_EDGE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: IMPP_HTTP_PORT
  value: "9158"
- name: IMPP_DATA_DIR
  value: /var/lib/impp
- name: IMPP_DOMAIN
  value: {{ .Values.config.domain | quote }}
- name: IMPP_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- with include "impp.otlpEndpoint" . }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.config.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "impp.databaseEnv" -}}
- name: IMPP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "impp.databaseSecretName" . }}
      key: {{ include "impp.databaseSecretKey" . }}
{{- end -}}

{{/* Pod-level pieces shared by every workload. */}}
{{- define "impp.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.serviceAccountName }}
serviceAccountName: {{ .Values.serviceAccountName }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{- define "impp.dataVolumes" -}}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.dataDir.sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "impp.dataVolumeMounts" -}}
- name: data
  mountPath: /var/lib/impp
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "impp.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
{{- end -}}

{{/* Soft spread over nodes and zones unless the values give constraints. */}}
{{- define "impp.topologySpread" -}}
{{- $root := .root -}}
{{- if .constraints }}
topologySpreadConstraints:
  {{- toYaml .constraints | nindent 2 }}
{{- else }}
topologySpreadConstraints:
  {{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "impp.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ $.component }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* terminationGracePeriodSeconds of an edge: longer than its drain grace, always. */}}
{{- define "impp.edgeGracePeriod" -}}
{{- $drainSeconds := div (add (int64 .Values.edge.drainGraceMs) 999) 1000 -}}
{{- $grace := .Values.edge.terminationGracePeriodSeconds | default (add $drainSeconds 15) | int64 -}}
{{- if le $grace $drainSeconds -}}
{{- fail (printf "edge.terminationGracePeriodSeconds (%d) must be longer than edge.drainGraceMs (%d s), or the kubelet kills edges mid-drain" $grace $drainSeconds) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}

{{/*
Roles: the one place among the templates that names them. values.yaml (the default
services.roles) and values.schema.json (the services.roles pattern) repeat impp.backendRoles;
services/impp/src/deploy-roles.test.ts checks all of them against the server's role list.
Each returns a comma list: use it as splitList "," (include ...).
*/}}
{{/* Every role but edge, which has its own Deployment: what services.roles may name. */}}
{{- define "impp.backendRoles" -}}
auth,roster,presence,messaging,avatar,groupchat
{{- end -}}

{{/* The roles that open the database: a pod running any of them gets IMPP_DATABASE_URL. */}}
{{- define "impp.storeRoles" -}}
auth,roster,presence,messaging,avatar,groupchat
{{- end -}}

{{/* services.roles as a comma list, spaces removed. */}}
{{- define "impp.servicesRoles" -}}
{{- .Values.services.roles | nospace -}}
{{- end -}}

{{/* "true" when the services Deployment is on and runs a role that opens the database, else "". */}}
{{- define "impp.servicesNeedDatabase" -}}
{{- $store := splitList "," (include "impp.storeRoles" .) -}}
{{- $need := false -}}
{{- if .Values.services.enabled -}}
{{- range splitList "," (include "impp.servicesRoles" .) -}}
{{- if has . $store -}}
{{- $need = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $need -}}true{{- end -}}
{{- end -}}

{{/* Checks the values cannot express in their types. */}}
{{- define "impp.validate" -}}
{{- if contains "." (include "impp.fullname" .) -}}
{{- fail "the release's full name must not contain '.': pod names become IMPP_EDGE_ID (letters, digits, '-', '_')" -}}
{{- end -}}
{{- $backend := splitList "," (include "impp.backendRoles" .) -}}
{{- range splitList "," (include "impp.servicesRoles" .) -}}
{{- if not (has . $backend) -}}
{{- fail (printf "services.roles: unknown role %q (%s; edges have their own Deployment)" . (join ", " $backend)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where traces go: config.otlpEndpoint, else the chart's Jaeger when it is on, else "" (none). */}}
{{- define "impp.otlpEndpoint" -}}
{{- if .Values.config.otlpEndpoint -}}
{{- .Values.config.otlpEndpoint -}}
{{- else if .Values.jaeger.enabled -}}
{{- printf "http://%s-jaeger:4318" (include "impp.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
How the edges scale on connections: "" (CPU only), "prometheusAdapter" or "keda". Fails when
the target cannot be reached: edges stop being ready (IMPP_READY_MAX_CONNECTIONS_PERCENT of
IMPP_MAX_CONNECTIONS) before the average gets there, so the autoscaler would never see it.
*/}}
{{- define "impp.edgeScaler" -}}
{{- $conn := .Values.edge.autoscaling.connections -}}
{{- if and .Values.edge.autoscaling.enabled $conn.enabled -}}
{{- $ready := div (mul (int64 .Values.edge.maxConnections) (int64 .Values.edge.readyMaxConnectionsPercent)) 100 -}}
{{- if ge (int64 $conn.targetPerPod) $ready -}}
{{- fail (printf "edge.autoscaling.connections.targetPerPod (%d) must be below the readiness gate, %d%% of edge.maxConnections = %d" (int64 $conn.targetPerPod) (int64 .Values.edge.readyMaxConnectionsPercent) $ready) -}}
{{- end -}}
{{- $conn.provider -}}
{{- end -}}
{{- end -}}

{{/* The average open connections per edge the autoscaler aims for. */}}
{{- define "impp.edgeConnectionsTarget" -}}
{{- .Values.edge.autoscaling.connections.targetPerPod | int64 -}}
{{- end -}}
