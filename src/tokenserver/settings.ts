import type { Settings } from '../config/settings.ts'

/** The resolved `[tokenserver]` settings: node_type, database_url and init_node_url filled in. */
export type TokenserverConfig = Settings['tokenserver']

/** What the tokenserver API reads from the settings. */
export type TokenserverSettings = Pick<Settings, 'tokenserver' | 'master_secret'>
