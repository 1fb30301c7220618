// Each serving policy's set-up, a table as makePlan's is: the policies that run under plans (one plan, or eclip-live's
// table: setup.ts), and paris-elsa, whose scheduling chooses partitions (paris-elsa.ts). `eclip serve` and the tests
// resolve a config here and never branch on its policy.
import { PARIS_ELSA, type ServeConfig } from '../formats/serve-config.ts'
import { parisElsaSetup } from './paris-elsa.ts'
import { planServeSetup, type ServeSetup, type ServeSetupOptions } from './setup.ts'

type Setup = (config: ServeConfig, opts: ServeSetupOptions) => Promise<ServeSetup>

/** The policies with a set-up of their own; every other policy runs under plans. */
const OWN_SETUP: Record<string, Setup> = { [PARIS_ELSA]: parisElsaSetup }

/** From a serve config to what the server runs, by the config's policy. */
export function resolveServeSetup(config: ServeConfig, opts: ServeSetupOptions): Promise<ServeSetup> {
  return (OWN_SETUP[config.policy ?? ''] ?? planServeSetup)(config, opts)
}
