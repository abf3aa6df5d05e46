// OpenTelemetry set up in code after the framework imports (how most apps are written).
import express from 'express';
import Fastify from 'fastify';
import './otel-setup.mjs';
import { httpGetJson, runTwoServices } from './app.mjs';

runTwoServices({ express, Fastify, get: httpGetJson }).then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
