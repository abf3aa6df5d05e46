// OpenTelemetry set up first in code, before the framework imports (what its docs ask).
import './otel-setup.mjs';
import express from 'express';
import Fastify from 'fastify';
import { httpGetJson, runTwoServices } from './app.mjs';

runTwoServices({ express, Fastify, get: httpGetJson }).then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
