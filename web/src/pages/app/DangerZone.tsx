// Danger zone: delete the app after confirming in a dialog.
import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../../api/endpoints';
import type { App } from '../../api/types';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { DangerPanel } from '../../components/DangerPanel';
import { useToast } from '../../components/Toast';

export function DangerZone({ app }: { app: App }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const toast = useToast();

  const remove = async () => {
    setBusy(true);
    try {
      await api.deleteApp(app.project_id, app.id);
      toast.success(`${app.name} deleted`);
      navigate(`/projects/${app.project_id}`, { replace: true });
    } catch (e) {
      toast.error(e);
      setBusy(false);
    }
  };

  return (
    <DangerPanel
      id="danger-heading"
      title="Delete this app"
      description="Stops it and deletes every version, build and log. This cannot be undone."
      action="Delete app"
      onAction={() => setConfirming(true)}
    >
      {confirming && (
        <Dialog
          title={`Delete ${app.name}?`}
          tone="danger"
          onClose={() => !busy && setConfirming(false)}
          description={<p>The app, all its versions and their builds will be deleted. Viewers will no longer be able to open it.</p>}
          footer={
            <>
              <Button variant="ghost" onClick={() => setConfirming(false)} disabled={busy}>
                Cancel
              </Button>
              <Button variant="danger" onClick={() => void remove()} loading={busy}>
                Delete
              </Button>
            </>
          }
        >
          {null}
        </Dialog>
      )}
    </DangerPanel>
  );
}
