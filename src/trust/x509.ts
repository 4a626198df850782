// @peculiar/x509, loaded the one way that works: after the Reflect metadata
// functions its dependency tsyringe insists on (src/trust/reflect-metadata.ts),
// and with Node's WebCrypto as its provider. Import X.509 from here, never
// from '@peculiar/x509' directly.
import './reflect-metadata.js';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export * from '@peculiar/x509';
