import type { AdapterIdentity } from '@tracewire/core';
import { VERSION } from './version.js';

export const IDENTITY: AdapterIdentity = { packageName: '@tracewire/grpc', version: VERSION };
