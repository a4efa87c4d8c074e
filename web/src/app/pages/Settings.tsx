// Settings kept on this device (IndexedDB).
import { Settings } from '../cache/db';
import { useSettings } from '../cache/settings';

export function SettingsPage() {
  const { settings, update } = useSettings();
  const check = (key: 'overlay' | 'lockPointer' | 'gamepads', label: string, hint: string) => (
    <label className="check">
      <input type="checkbox" checked={settings[key]} onChange={(e) => update({ [key]: e.target.checked })} />
      <span>
        {label}
        <small>{hint}</small>
      </span>
    </label>
  );
  return (
    <section className="panel form" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <p className="note">Kept on this device and used for the next stream.</p>
      {check('overlay', 'Show the stats overlay', 'Bitrate, frame rate, round trip and loss over the picture; F2 toggles it while playing.')}
      {check('lockPointer', 'Lock the pointer when play starts', 'For games that turn the view with the mouse; Esc frees it.')}
      {check('gamepads', 'Use gamepads', 'Connected controllers are sent to the game.')}
      <label>
        Preferred quality
        <select value={settings.quality} onChange={(e) => update({ quality: e.target.value as Settings['quality'] })}>
          <option value="auto">As the game sets it</option>
          <option value="low">Low (1.5 Mbit/s, for weak connections)</option>
          <option value="medium">Medium (4 Mbit/s)</option>
          <option value="high">High (10 Mbit/s)</option>
        </select>
      </label>
      <label>
        Render path
        <select value={settings.render} onChange={(e) => update({ render: e.target.value as Settings['render'] })}>
          <option value="video">Video element</option>
          <option value="canvas">Canvas (WebCodecs)</option>
        </select>
      </label>
    </section>
  );
}
