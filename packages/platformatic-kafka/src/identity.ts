import type { AdapterIdentity } from '@tracewire/core';
import { VERSION } from './version.js';

export const PACKAGE_NAME = '@tracewire/platformatic-kafka';

/** Names the tracer and prefixes diagnostics. */
export const IDENTITY: AdapterIdentity = { packageName: PACKAGE_NAME, version: VERSION };
