export { loadConfig, loadConfigFromText, type LoadConfigDeps, type LoadConfigResult } from './load-config.js';
export { maskConfig, type MaskedConfig } from './mask-config.js';
export {
  createInClusterKubernetesSecretReader,
  createKubernetesSecretReader,
  SERVICE_ACCOUNT_DIR,
  type InClusterOptions,
  type KubernetesFetch,
  type KubernetesSecretReader,
  type KubernetesSecretReaderOptions,
} from './kubernetes-secret-reader.js';
export { parseSecretReference, isSecretReference, type SecretReference } from './secret-references.js';
export type * from './types.js';
