/**
 * The Helm chart's own values (everything that is not the server config), as TypeBox schemas.
 *
 * charts/mlrun-image-webhook/values.schema.json is generated from this file plus the config sections of
 * ./schema.ts (scripts/gen-values-schema.ts), so `helm install` refuses a wrong value before anything reaches the
 * cluster. The config keys (`mlrun`, `webhook`, `log`) are NOT defined here: they come from ./schema.ts unchanged,
 * so a key means the same thing in values.yaml and in the server's config file.
 *
 * Nothing in the server imports this module.
 */
import { Type, type TSchema } from '@sinclair/typebox';

const desc = (description: string) => ({ description });

/** A Kubernetes object we pass through to the manifest unchanged; Kubernetes validates it. */
const KubeObject = (description: string) => Type.Object({}, { additionalProperties: true, ...desc(description) });
const KubeList = (description: string) => Type.Array(KubeObject('A Kubernetes object, passed through.'), desc(description));
const StringMap = (description: string) => Type.Record(Type.String(), Type.String(), desc(description));

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const NamespaceName = Type.String({ minLength: 1, maxLength: 63, pattern: DNS_LABEL });

const LabelSelectorRequirement = Type.Object(
  {
    key: Type.String({ minLength: 1 }),
    operator: Type.Union([Type.Literal('In'), Type.Literal('NotIn'), Type.Literal('Exists'), Type.Literal('DoesNotExist')]),
    values: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);

const SelectorExtras = (what: string) =>
  Type.Object(
    {
      matchLabels: Type.Optional(StringMap(`Extra matchLabels for the webhook's ${what}.`)),
      matchExpressions: Type.Optional(
        Type.Array(LabelSelectorRequirement, desc(`Extra matchExpressions, added to the chart's own ${what} expressions.`)),
      ),
    },
    { additionalProperties: false, ...desc(`Added to the ${what} the chart builds (never replaces it).`) },
  );

export const ImageValues = Type.Object(
  {
    repository: Type.String({ minLength: 1, ...desc('Image repository of the webhook server.') }),
    tag: Type.String(desc('Image tag. Empty: the chart appVersion.')),
    digest: Type.String({
      pattern: '^(sha256:[a-f0-9]{64})?$',
      ...desc('Image digest (sha256:...). When set the image is pinned as repository:tag@digest.'),
    }),
    pullPolicy: Type.Union([Type.Literal('Always'), Type.Literal('IfNotPresent'), Type.Literal('Never')], desc('imagePullPolicy of the webhook and helm test containers.')),
  },
  { additionalProperties: false, ...desc('The webhook server image (also used by the helm test Pod).') },
);

export const TlsValues = Type.Object(
  {
    mode: Type.Union([Type.Literal('generate'), Type.Literal('cert-manager'), Type.Literal('secret')], {
      ...desc(
        'generate: the chart makes a CA and serving certificate and keeps them across upgrades (lookup). ' +
          'cert-manager: Certificates issued and renewed by cert-manager, caBundle injected by its cainjector. ' +
          'secret: you provide the Secret (tls.secretName) and the CA (tls.caBundle).',
      ),
    }),
    secretName: Type.String({
      maxLength: 253,
      ...desc('Secret holding tls.crt/tls.key. generate, cert-manager: name of the Secret the chart makes (empty: <fullname>-tls). secret: the existing Secret (required).'),
    }),
    caBundle: Type.String(
      desc('secret mode only (required there): the CA that signed the serving certificate, as PEM or as base64 of the PEM.'),
    ),
    generate: Type.Object(
      {
        caValidityDays: Type.Integer({ minimum: 30, maximum: 36500, ...desc('Lifetime of the generated CA, in days.') }),
        certValidityDays: Type.Integer({ minimum: 30, maximum: 36500, ...desc('Lifetime of the generated serving certificate, in days.') }),
        renewBeforeDays: Type.Integer({
          minimum: 1,
          maximum: 36500,
          ...desc(
            'On helm upgrade, reissue the serving certificate (same CA) when it expires within this many days, and ' +
              'the CA (old CA kept in the caBundle) when the CA does. Otherwise the existing ones are kept.',
          ),
        }),
      },
      { additionalProperties: false, ...desc('tls.mode=generate settings.') },
    ),
    certManager: Type.Object(
      {
        issuerRef: Type.Object(
          {
            name: Type.Optional(Type.String(desc('Issuer name. Empty: the chart creates a self-signed CA chain.'))),
            kind: Type.Optional(Type.Union([Type.Literal('Issuer'), Type.Literal('ClusterIssuer')], desc('Issuer kind.'))),
            group: Type.Optional(Type.String(desc('Issuer API group.'))),
          },
          { additionalProperties: false, ...desc('An existing (Cluster)Issuer for the serving certificate. Empty name: self-signed CA chain made by the chart.') },
        ),
        duration: Type.String({ pattern: '^([0-9]+(\\.[0-9]+)?(h|m|s))+$', ...desc('Serving certificate lifetime (Go duration).') }),
        renewBefore: Type.String({ pattern: '^([0-9]+(\\.[0-9]+)?(h|m|s))+$', ...desc('Renew the serving certificate this long before expiry.') }),
        caDuration: Type.String({ pattern: '^([0-9]+(\\.[0-9]+)?(h|m|s))+$', ...desc('Lifetime of the chart-made CA (self-signed chain only).') }),
      },
      { additionalProperties: false, ...desc('tls.mode=cert-manager settings (cert-manager.io/v1).') },
    ),
  },
  { additionalProperties: false, ...desc('TLS for the webhook endpoint. The server reloads rotated files without a restart.') },
);

const MatchCondition = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$' }),
    expression: Type.String({ minLength: 1, maxLength: 10240 }),
  },
  { additionalProperties: false },
);

const CIDR = '^([0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9A-Fa-f:.]+/[0-9]{1,3})$';
const Port = Type.Integer({ minimum: 1, maximum: 65535 });

export const NetworkPolicyValues = Type.Object(
  {
    enabled: Type.Boolean(desc('Create a NetworkPolicy for the webhook pods.')),
    webhookFrom: KubeList(
      'NetworkPolicy peers allowed to reach the webhook port (8443). Empty: from anywhere, because the API server\'s source ' +
        'address differs between distributions (host network, konnectivity, cloud control planes).',
    ),
    metricsFrom: KubeList('Peers allowed to reach the health/metrics port (8080), e.g. the Prometheus namespace.'),
    allowDNS: Type.Boolean(desc('Allow egress to port 53 (UDP/TCP). The server needs no other egress.')),
    extraEgress: KubeList('Extra egress rules (NetworkPolicyEgressRule objects).'),
    apiServer: Type.Object(
      {
        cidr: Type.String({
          pattern: `^$|${CIDR}`,
          ...desc(
            'Address block of the Kubernetes API server endpoints, e.g. 10.0.0.10/32. Find them with ' +
              '`kubectl get endpoints kubernetes -n default` (the endpoint addresses, not the Service IP: NetworkPolicy ' +
              'sees the translated address). Required when discovery.enabled and networkPolicy.enabled.',
          ),
        }),
        port: Type.Integer({ minimum: 1, maximum: 65535, ...desc('API server endpoint port (the port in `kubectl get endpoints kubernetes`, often 6443 or 443).') }),
      },
      { additionalProperties: false, ...desc('Egress to the Kubernetes API server, rendered only when discovery is on.') },
    ),
    registries: Type.Array(
      Type.Object(
        {
          cidr: Type.String({ pattern: CIDR, ...desc('Address block of a registry (ipBlock cidr).') }),
          ports: Type.Array(Port, { minItems: 1, ...desc('TCP ports of the registry, e.g. [443] or [5000].') }),
        },
        { additionalProperties: false },
      ),
      desc(
        'Egress to the registries the webhook asks (mirror.enabled, policy.pinDigests=resolve): the data-node / vendor ' +
          'registries, their token realms, and policy.digestRegistries. Rendered only when one of those is on.',
      ),
    ),
  },
  {
    additionalProperties: false,
    ...desc(
      'Optional NetworkPolicy: ingress to the webhook and metrics ports only; egress DNS, plus the API server when ' +
        'discovery is on and the registries when mirror checks or digest pinning are on.',
    ),
  },
);

export const ServiceMonitorValues = Type.Object(
  {
    enabled: Type.Boolean(desc('Create a ServiceMonitor (monitoring.coreos.com/v1) scraping /metrics.')),
    interval: Type.String(desc('Scrape interval.')),
    scrapeTimeout: Type.String(desc('Scrape timeout.')),
    labels: StringMap('Extra labels on the ServiceMonitor (e.g. release: kube-prometheus-stack).'),
    relabelings: KubeList('Prometheus relabelings of the scrape endpoint.'),
    metricRelabelings: KubeList('Prometheus metricRelabelings of the scrape endpoint.'),
  },
  { additionalProperties: false, ...desc('Prometheus Operator ServiceMonitor.') },
);

export const PrometheusRuleValues = Type.Object(
  {
    enabled: Type.Boolean(desc('Create a PrometheusRule (monitoring.coreos.com/v1) with the alerts below.')),
    labels: StringMap('Extra labels on the PrometheusRule.'),
    certificateExpiryDays: Type.Integer({
      minimum: 2,
      maximum: 365,
      ...desc(
        'Warning alert when the served certificate expires within this many days. With tls.mode=cert-manager it must be ' +
          'below tls.certManager.renewBefore, so a routine renewal never fires it.',
      ),
    }),
    certificateExpiryCriticalDays: Type.Integer({
      minimum: 1,
      maximum: 364,
      ...desc('Critical alert when the served certificate expires within this many days (or has expired). Lower than certificateExpiryDays.'),
    }),
    errorRatio: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      ...desc('Alert when this fraction of admission requests ends with outcome "error" for 10 minutes.'),
    }),
    metricSelector: Type.String(
      desc('PromQL label matchers selecting this release\'s webhook metrics. Empty: namespace and service of this release.'),
    ),
    policyDenials: Type.Integer({
      minimum: 1,
      maximum: 100000,
      ...desc(
        'Info alert when the production policy refuses more Pods than this in 10 minutes (rendered when policy.pinTags is ' +
          'deny or rewrite): a spike usually means a new MLRun client version or a moved tag, not users at fault.',
      ),
    }),
    additionalRules: KubeList('Extra rules appended to the group.'),
  },
  {
    additionalProperties: false,
    ...desc(
      'Alerts: certificate expiry, API server fail-open/rejections, error ratio, no available replicas; with the features on, ' +
        'discovery failing or a change pending, missing mirror images, policy denial spikes.',
    ),
  },
);

export const PdbValues = Type.Object(
  {
    enabled: Type.Boolean(desc('Create a PodDisruptionBudget (only rendered when replicaCount > 1).')),
    minAvailable: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]+%$' })], desc('Replicas that must stay available during voluntary disruptions (drains): a number or a percentage.')),
    unhealthyPodEvictionPolicy: Type.Union([Type.Literal('AlwaysAllow'), Type.Literal('IfHealthyBudget')], {
      ...desc('AlwaysAllow lets a drain evict a crash-looping replica (Kubernetes >= 1.27).'),
    }),
  },
  { additionalProperties: false, ...desc('PodDisruptionBudget of the webhook pods.') },
);

export const PreStopValues = Type.Object(
  {
    mode: Type.Union([Type.Literal('auto'), Type.Literal('sleep'), Type.Literal('exec'), Type.Literal('none')], {
      ...desc(
        'How the container waits before SIGTERM so the API server stops sending it requests. sleep: lifecycle.preStop.sleep ' +
          '(Kubernetes >= 1.30); exec: runs `node -e setTimeout` (the image has no sleep binary); none: no hook; ' +
          'auto: sleep on Kubernetes >= 1.30, exec before.',
      ),
    }),
    seconds: Type.Integer({ minimum: 0, maximum: 300, ...desc('How long preStop waits. terminationGracePeriodSeconds must be larger.') }),
  },
  { additionalProperties: false, ...desc('Graceful drain on pod deletion.') },
);

/** Chart-only keys. Order here is the order in values.schema.json and in the generated values table. */
export const ChartValuesSchema = Type.Object(
  {
    global: Type.Optional(KubeObject('Not used by this chart; accepted so the chart can be a subchart.')),
    nameOverride: Type.String({ maxLength: 63, pattern: `^(${DNS_LABEL.slice(1, -1)})?$`, ...desc('Replaces the chart name in resource names.') }),
    fullnameOverride: Type.String({ maxLength: 63, pattern: `^(${DNS_LABEL.slice(1, -1)})?$`, ...desc('Replaces <release>-<chart> in resource names.') }),
    commonLabels: StringMap('Labels added to every resource.'),

    replicaCount: Type.Integer({ minimum: 1, maximum: 50, ...desc('Webhook replicas. Keep >= 2: the API server calls the webhook for every Pod.') }),
    image: ImageValues,
    imagePullSecrets: Type.Array(
      Type.Object({ name: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
      desc('imagePullSecrets of the webhook pods.'),
    ),
    serviceAccount: Type.Object(
      {
        create: Type.Boolean(
          desc(
            'Create a ServiceAccount. Without discovery it gets no RBAC and no token; with discovery.enabled the pods ' +
              'mount its token and it is bound to read-only Roles in discovery.namespaces.',
          ),
        ),
        name: Type.String(desc('ServiceAccount name. Empty: <fullname> if created, "default" otherwise.')),
        annotations: StringMap('ServiceAccount annotations.'),
      },
      { additionalProperties: false, ...desc('ServiceAccount.') },
    ),
    podAnnotations: StringMap('Extra pod annotations.'),
    podLabels: StringMap('Extra pod labels (not used in selectors).'),
    priorityClassName: Type.String(desc('Pod priorityClassName (e.g. system-cluster-critical when failurePolicy is Fail).')),
    resources: KubeObject('Container resources. No CPU limit by default: throttling shows up as admission latency.'),
    nodeOptions: Type.String({
      maxLength: 1024,
      ...desc(
        'NODE_OPTIONS of the webhook container (replaces the image\'s). Node sizes its heap from the memory limit and ' +
          'would let it reach the whole limit (then the kernel kills the pod before V8 collects): keep ' +
          '--max-old-space-size at about 3/4 of resources.limits.memory (192 for 256Mi).',
      ),
    }),
    podSecurityContext: KubeObject('Pod securityContext (uid/gid 65532, non-root, seccomp RuntimeDefault by default).'),
    securityContext: KubeObject('Container securityContext (read-only root filesystem, no capabilities, no privilege escalation by default).'),
    nodeSelector: StringMap('Pod nodeSelector (also used by the helm test Pod).'),
    tolerations: KubeList('Pod tolerations (also used by the helm test Pod).'),
    affinity: KubeObject('Pod affinity. Replicas are already spread over nodes by topologySpreadConstraints.'),
    topologySpreadConstraints: KubeList(
      'topologySpreadConstraints. Their labelSelector is filled with the pod selector when left out. Empty list: none.',
    ),
    terminationGracePeriodSeconds: Type.Integer({
      minimum: 1,
      maximum: 600,
      ...desc('Must be larger than preStop.seconds; keep it at least preStop.seconds + 30 (after SIGTERM the server drains 5 s and exits within 25 s).'),
    }),
    preStop: PreStopValues,
    service: Type.Object(
      { annotations: StringMap('Service annotations.') },
      { additionalProperties: false, ...desc('The Service the API server calls (port 443 → 8443) and Prometheus scrapes (8080).') },
    ),

    tls: TlsValues,

    failurePolicy: Type.Union([Type.Literal('Ignore'), Type.Literal('Fail')], {
      ...desc(
        'What the API server does when the webhook cannot be reached or errs. Ignore: admit the Pod unchanged (images ' +
          'not rewritten). Fail: reject the Pod. See failClosedNamespaces to fail closed only where it matters.',
      ),
    }),
    failClosedNamespaces: Type.Array(NamespaceName, {
      ...desc(
        'Namespaces served by a second webhook entry with failurePolicy Fail (e.g. air-gapped MLRun namespaces) while ' +
          'every other namespace keeps failurePolicy.',
      ),
    }),
    timeoutSeconds: Type.Integer({ minimum: 1, maximum: 30, ...desc('Webhook call timeout.') }),
    reinvocationPolicy: Type.Union([Type.Literal('IfNeeded'), Type.Literal('Never')], {
      ...desc('IfNeeded: called again when a later webhook changed the Pod (e.g. injected a sidecar).'),
    }),
    targetNamespaces: Type.Array(NamespaceName, desc('Only these namespaces (kubernetes.io/metadata.name In). Empty: all but the excluded ones.')),
    excludedNamespaces: Type.Array(
      NamespaceName,
      desc('Excluded in addition to kube-system, kube-public, kube-node-lease and the release namespace (always excluded).'),
    ),
    excludeKubePrefixedNamespaces: Type.Boolean(
      desc('Also skip every kube-* namespace, with a matchCondition (Kubernetes >= 1.28; label selectors have no wildcards).'),
    ),
    namespaceSelector: SelectorExtras('namespaceSelector'),
    objectSelector: SelectorExtras('objectSelector'),
    matchConditions: Type.Array(MatchCondition, {
      ...desc('CEL matchConditions (Kubernetes >= 1.28 beta, GA 1.30); the API server calls the webhook only when all are true.'),
    }),

    networkPolicy: NetworkPolicyValues,
    serviceMonitor: ServiceMonitorValues,
    prometheusRule: PrometheusRuleValues,
    pdb: PdbValues,
    tests: Type.Object(
      { enabled: Type.Boolean(desc('Render the helm test Pod (sends a real AdmissionReview through the Service).')) },
      { additionalProperties: false, ...desc('helm test.') },
    ),
    configValidation: Type.Object(
      {
        enabled: Type.Boolean(
          desc(
            'Run `validate-config` (the server\'s own loader, with the webhook\'s env) in a pre-install/pre-upgrade hook Job, ' +
              'so helm install/upgrade fails with the server\'s message on a config it would refuse.',
          ),
        ),
      },
      { additionalProperties: false, ...desc('Pre-install/pre-upgrade config check.') },
    ),
  },
  { additionalProperties: false },
);

/** Chart-only keys inside the `mlrun` section (everything else there is the server config). */
export const MlrunChartExtras = {
  envFrom: Type.Array(KubeObject('An EnvFromSource (configMapRef / secretRef).'), {
    description:
      'envFrom sources for the webhook container, e.g. [{configMapRef: {name: mlrun-override-env, optional: true}}]. ' +
      'Their MLRUN_IMAGES_REGISTRY, MLRUN_IMAGES_TAG, MLRUN_VENDOR_IMAGES_REGISTRY, MLRUN_IMAGES_TO_ENRICH_REGISTRY and ' +
      'MLRUN_VERSION override the mlrun.* values; they are read at start only (a change needs a restart). The ' +
      'ConfigMap must be in the release namespace. Not written to the config file.',
  }),
} satisfies Record<string, TSchema>;

const K8S_NAME = '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$';
const ObjectName = (description: string) => Type.String({ minLength: 1, maxLength: 253, pattern: K8S_NAME, description });

/** Chart-only keys inside the `discovery` section (not written to the config file). */
export const DiscoveryChartExtras = {
  configMapNames: Type.Array(ObjectName('A ConfigMap name.'), {
    uniqueItems: true,
    maxItems: 64,
    description:
      'Restrict the discovery Role\'s ConfigMap access to these names (resourceNames; discovery watches each ConfigMap ' +
      'by name, which RBAC authorizes per name). For MLRun CE: mlrun-common-env, mlrun-pipelines-config, ' +
      'mlrun-spark-config, mlrun-override-env, plus any ConfigMap a configMapKeyRef of the MLRun API names. A ' +
      'ConfigMap not listed is reported as forbidden. Empty: every ConfigMap of the listed namespaces.',
  }),
} satisfies Record<string, TSchema>;

/** Chart-only keys inside the `mirror` section (not written to the config file as such). */
export const MirrorChartExtras = {
  pullSecrets: Type.Array(ObjectName('A Secret name.'), {
    uniqueItems: true,
    maxItems: 32,
    description:
      'Secrets of type kubernetes.io/dockerconfigjson in the release namespace with registry credentials. Each is ' +
      'mounted read-only and its .dockerconfigjson path is added to mirror.pullSecretFiles in the config file.',
  }),
  caBundle: Type.Object(
    {
      configMap: Type.String({ maxLength: 253, pattern: `^$|${K8S_NAME}`, description: 'ConfigMap holding the PEM CA bundle (release namespace).' }),
      secret: Type.String({ maxLength: 253, pattern: `^$|${K8S_NAME}`, description: 'Secret holding the PEM CA bundle (release namespace); set configMap or secret, not both.' }),
      key: Type.String({ minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$', description: 'Key of the PEM bundle in that object.' }),
    },
    {
      additionalProperties: false,
      description:
        'A CA bundle for registry TLS, mounted read-only; its path is written to mirror.caFile in the config file ' +
        '(leave mirror.caFile empty then).',
    },
  ),
} satisfies Record<string, TSchema>;

/** Chart-only keys inside the `policy` section (not written to the config file). */
export const PolicyChartExtras = {
  namespaceLabel: Type.Object(
    {
      key: Type.String({
        minLength: 1,
        maxLength: 317,
        pattern:
          '^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$',
        description: 'Label key that marks a production namespace.',
      }),
      value: Type.String({
        minLength: 1,
        maxLength: 63,
        pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$',
        description: 'Label value that marks a production namespace.',
      }),
    },
    {
      additionalProperties: false,
      description:
        'Namespaces labelled key=value are served by a second webhook entry on /mutate/production (the production ' +
        'policy, no per-Pod opt-out, its own failurePolicy); the main entry skips them. Rendered when ' +
        'policy.pinTags or policy.pinDigests is not off (docs/adr/0008).',
    },
  ),
  failurePolicy: Type.Union([Type.Literal(''), Type.Literal('Ignore'), Type.Literal('Fail')], {
    description:
      'failurePolicy of the production entry. Empty: Fail when policy.pinTags is deny or rewrite, or when failurePolicy ' +
      'is Fail (an outage must not admit what the policy refuses); Ignore otherwise. Namespaces in failClosedNamespaces ' +
      'always fail closed.',
  }),
} satisfies Record<string, TSchema>;
