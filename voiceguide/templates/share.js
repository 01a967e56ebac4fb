
(function () {
  "use strict";
  var players = Array.prototype.slice.call(document.querySelectorAll("audio"));

  // One player at a time: starting one pauses the others.
  document.addEventListener("play", function (event) {
    players.forEach(function (other) {
      if (other !== event.target) { other.pause(); }
    });
  }, true);

  // Chapters: a tap jumps the player there and plays.
  var chapters = Array.prototype.slice.call(document.querySelectorAll("button[data-seek]"));
  chapters.forEach(function (button) {
    button.addEventListener("click", function () {
      var player = document.getElementById(button.getAttribute("data-player"));
      player.currentTime = Number(button.getAttribute("data-seek"));
      var started = player.play();
      if (started) { started.catch(function () {}); }
    });
  });

  // The chapter playing now is marked.
  var full = document.getElementById("full");
  if (full && chapters.length) {
    full.addEventListener("timeupdate", function () {
      var now = full.currentTime;
      chapters.forEach(function (button) {
        var on = now >= Number(button.getAttribute("data-seek")) &&
          now < Number(button.getAttribute("data-end"));
        button.setAttribute("aria-current", on ? "true" : "false");
      });
    });
  }

  // Captions: audio players draw none, so the line being said is written under each.
  players.forEach(function (player) {
    var line = document.getElementById(player.id + "-caption");
    var track = player.textTracks && player.textTracks[0];
    if (!line || !track) { return; }
    track.mode = "hidden";
    track.addEventListener("cuechange", function () {
      var cue = track.activeCues && track.activeCues[0];
      line.textContent = cue ? cue.getCueAsHTML().textContent : "";
    });
  });
})();
