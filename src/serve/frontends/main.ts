// Entry of a front-end process started from the sources (engine.ts forks it through tsx); the CLI's bundle starts
// front-ends through src/cli/main.ts instead.
import { runFrontend } from './frontend.ts'

await runFrontend()
