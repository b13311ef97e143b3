// Centered card layout for the sign-in and registration pages.
import type { ReactNode } from 'react';
import { Logo } from '../components/Logo';

export function AuthLayout({ title, subtitle, children, footer }: { title: string; subtitle: string; children: ReactNode; footer: ReactNode }) {
  return (
    <div className="auth-page">
      <div className="auth-glow" aria-hidden="true" />
      <main className="auth-main">
        <div className="auth-brand">
          <Logo size="lg" />
        </div>
        <div className="auth-card">
          <h1 className="auth-title">{title}</h1>
          <p className="auth-subtitle">{subtitle}</p>
          {children}
        </div>
        <p className="auth-footer">{footer}</p>
      </main>
    </div>
  );
}
