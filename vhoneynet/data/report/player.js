// Session player of vhoneynet reports: plays a login session's frames ([seconds, text], text
// captured from a honeypot) into a terminal-like <pre>, as text only (never as markup), with
// play/pause, restart and speed. Pauses longer than IDLE_LIMIT seconds are shortened, as
// asciinema's idle_time_limit does, so that a long session stays watchable.
"use strict";
var VhnPlayer = (function () {
  var IDLE_LIMIT = 2.0;

  function schedule(frames) {
    var times = [], at = 0, last = 0;
    frames.forEach(function (frame) {
      at += Math.min(Math.max(frame[0] - last, 0), IDLE_LIMIT);
      last = frame[0];
      times.push(at);
    });
    return times;
  }

  function Player(root, session) {
    this.root = root;
    this.frames = session.frames;
    this.times = schedule(this.frames);
    this.term = root.querySelector(".term");
    this.button = root.querySelector(".play");
    this.clock = root.querySelector(".clock");
    this.speed = root.querySelector(".speed");
    this.shown = 0;      // frames on screen
    this.position = 0;   // seconds of (shortened) session time played
    this.startedAt = null;
    this.timer = null;
    var self = this;
    this.button.addEventListener("click", function () { self.toggle(); });
    root.querySelector(".restart").addEventListener("click", function () { self.restart(); });
    this.speed.addEventListener("change", function () {
      if (self.startedAt !== null) { self.pause(); self.play(); }
    });
    this.showClock();
  }

  Player.prototype.duration = function () {
    return this.times.length ? this.times[this.times.length - 1] : 0;
  };
  Player.prototype.rate = function () { return parseFloat(this.speed.value) || 1; };
  Player.prototype.now = function () {
    return this.startedAt === null ? this.position
      : this.position + (performance.now() - this.startedAt) / 1000 * this.rate();
  };
  Player.prototype.toggle = function () {
    if (this.startedAt !== null) { this.pause(); return; }
    if (this.shown >= this.frames.length) { this.restart(); return; }
    this.play();
  };
  Player.prototype.play = function () {
    this.startedAt = performance.now();
    this.button.textContent = "Pause";
    this.tick();
  };
  Player.prototype.pause = function () {
    this.position = this.now();
    this.startedAt = null;
    clearTimeout(this.timer);
    this.button.textContent = "Play";
  };
  Player.prototype.restart = function () {
    this.pause();
    this.position = 0;
    this.shown = 0;
    this.term.textContent = "";
    this.play();
  };
  Player.prototype.tick = function () {
    var now = this.now(), self = this;
    while (this.shown < this.frames.length && this.times[this.shown] <= now) {
      this.term.appendChild(document.createTextNode(this.frames[this.shown][1]));
      this.shown += 1;
    }
    this.term.scrollTop = this.term.scrollHeight;
    this.showClock();
    if (this.shown >= this.frames.length) {
      this.position = this.duration();
      this.startedAt = null;
      this.button.textContent = "Replay";
      this.root.setAttribute("data-state", "ended");
      return;
    }
    this.root.setAttribute("data-state", "playing");
    var wait = (this.times[this.shown] - now) / this.rate() * 1000;
    this.timer = setTimeout(function () { self.tick(); }, Math.max(10, Math.min(wait, 250)));
  };
  Player.prototype.showClock = function () {
    this.clock.textContent = Math.min(this.now(), this.duration()).toFixed(1) + " s / " +
      this.duration().toFixed(1) + " s";
  };

  return { Player: Player };
})();
